// The API reference, from the app's own OpenAPI document.
const target = document.getElementById("swagger-ui");
window.SwaggerUIBundle({ url: target.dataset.spec, dom_id: "#swagger-ui", deepLinking: true });
