// The admin console's htmx glue.

// Refusals that explain themselves (a film whose video is not ready, the last
// administrator) come back as 409/422 with the row or panel saying why: show them.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status === 409 || status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// Anything else that fails says so at the top of the page instead of doing nothing.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const message =
    status === 403
      ? "That was refused. Your session may have ended: reload the page and try again."
      : `That did not work (error ${status}). Reload the page and try again.`;
  showProblem(message);
});

document.addEventListener("htmx:sendError", () => {
  showProblem("The server could not be reached. Check the connection and try again.");
});

function showProblem(message) {
  const main = document.getElementById("main");
  if (!main) return;
  let banner = document.getElementById("admin-request-problem");
  if (!banner) {
    banner = document.createElement("p");
    banner.id = "admin-request-problem";
    banner.className = "form-error admin-problem";
    banner.setAttribute("role", "alert");
    banner.dataset.testid = "request-problem";
    main.prepend(banner);
  }
  banner.textContent = message;
}
