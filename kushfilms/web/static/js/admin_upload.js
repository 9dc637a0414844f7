// The video upload on a film's edit page: Uppy's Dashboard sends the file with
// tus in 8 MiB chunks, resumes after a dropped connection (retries) or a reload
// (GoldenRetriever keeps the file, tus fingerprints find the upload again), and
// once the upload is complete it is attached to the film, which starts processing.
// The server checks the file only then, so the panel says nothing of success until
// it has: Uppy's own "complete" view is put away as soon as the bytes are in, and a
// refused file ends in the panel's error state with the server's reason.

const MiB = 1024 * 1024;
const VIDEO_TYPES = ["video/*", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mts", ".ts"];

const widget = document.getElementById("video-upload");
if (widget) {
  startUploader(widget).catch((error) => {
    say(widget, `The uploader could not start (${error.message}). Reload the page to try again.`, true);
  });
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

function say(widget, text, isError = false) {
  const message = widget.querySelector("#upload-message");
  message.textContent = text;
  message.classList.toggle("form-error", isError);
}

function showProgress(widget, percent) {
  const box = widget.querySelector("#upload-progress-box");
  box.hidden = false;
  widget.querySelector("#upload-progress").value = percent;
  widget.querySelector("#upload-percent").textContent = `${percent} %`;
}

function hideProgress(widget) {
  widget.querySelector("#upload-progress-box").hidden = true;
}

function showDashboard(widget, shown) {
  widget.querySelector("#uppy-dashboard").hidden = !shown;
}

// The file is not a film: say why, in the panel's error state, with a way on.
function showRefusal(widget, reason) {
  widget.dataset.state = "refused";
  hideProgress(widget);
  showDashboard(widget, false);
  say(widget, "");
  const box = widget.querySelector("#upload-refused");
  box.hidden = false;
  box.querySelector("#upload-refusal").textContent = reason;
}

function hideRefusal(widget) {
  widget.querySelector("#upload-refused").hidden = true;
}

function refreshVideoStatus() {
  const panel = document.getElementById("video-status");
  if (panel && window.htmx) window.htmx.trigger(panel, "kf:refresh");
}

function uploadIdOf(uploadURL) {
  return new URL(uploadURL, window.location.href).pathname.split("/").pop();
}

// Attach a finished upload to the film. Returns null, or why it was refused.
async function attach(widget, uploadId) {
  const response = await fetch(widget.dataset.attachUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify({ upload_id: uploadId }),
  });
  if (response.ok) return { ok: true };
  const body = await response.json().catch(() => null);
  return {
    ok: false,
    code: body?.error?.code ?? "",
    message: body?.error?.message ?? `The server answered ${response.status}.`,
  };
}

async function startUploader(widget) {
  const { Uppy, Dashboard, Tus, GoldenRetriever } = await import(widget.dataset.uppyModule);
  const movieId = widget.dataset.movieId;
  // Set when an upload completes, cleared once it is attached: a reload in
  // between still attaches it.
  const pendingKey = `kf-attach-${movieId}`;

  const uppy = new Uppy({
    id: `kf-video-${movieId}`, // GoldenRetriever keeps each film's upload apart
    autoProceed: true,
    restrictions: { maxNumberOfFiles: 1, allowedFileTypes: VIDEO_TYPES },
  })
    .use(Dashboard, {
      inline: true,
      target: widget.querySelector("#uppy-dashboard"),
      width: "100%",
      height: 300,
      theme: "dark",
      showProgressDetails: true,
      proudlyDisplayPoweredByUppy: false,
      note: "One video file. If the connection drops or the page reloads, the upload continues where it stopped.",
    })
    .use(Tus, {
      endpoint: widget.dataset.endpoint,
      chunkSize: 8 * MiB,
      headers: { "X-CSRF-Token": csrfToken() },
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      removeFingerprintOnSuccess: true,
      limit: 1,
    })
    .use(GoldenRetriever);

  function clearUppy() {
    try {
      uppy.clear();
    } catch {
      // nothing to clear
    }
  }

  async function finish(uploadId, { quietIfGone = false } = {}) {
    widget.dataset.state = "checking";
    showDashboard(widget, false);
    say(widget, "Uploaded. Checking that it is a video we can play…");
    const result = await attach(widget, uploadId);
    window.localStorage.removeItem(pendingKey);
    clearUppy();
    if (result.ok) {
      say(widget, "Uploaded. The video is being processed; its progress shows above.");
      widget.dataset.state = "attached";
      showDashboard(widget, true); // for a replacement, later
    } else if (quietIfGone && result.code === "upload_not_found") {
      widget.dataset.state = "";
      say(widget, "");
      showDashboard(widget, true);
    } else {
      showRefusal(widget, result.message);
    }
    refreshVideoStatus();
  }

  widget.querySelector("#upload-another").addEventListener("click", () => {
    hideRefusal(widget);
    widget.dataset.state = "";
    showDashboard(widget, true);
    widget.querySelector(".uppy-Dashboard-browse")?.focus();
  });

  uppy.on("upload", () => {
    widget.dataset.state = "uploading";
    hideRefusal(widget);
    say(widget, "Uploading…");
    showProgress(widget, 0);
  });
  uppy.on("progress", (percent) => {
    // Uppy reports 0 % once the finished file is cleared away: keep what the upload reached.
    if (widget.dataset.state === "uploading") showProgress(widget, percent);
  });
  uppy.on("upload-success", (file, response) => {
    window.localStorage.setItem(pendingKey, uploadIdOf(response.uploadURL));
    showDashboard(widget, false); // its "complete" would speak before the server has
  });
  uppy.on("complete", async (result) => {
    const done = result.successful?.[0];
    if (!done?.response?.uploadURL) return;
    showProgress(widget, 100);
    await finish(uploadIdOf(done.response.uploadURL));
  });
  uppy.on("upload-error", (file, error) => {
    widget.dataset.state = "failed";
    say(widget, `The upload stopped: ${error.message}`, true);
  });
  uppy.on("restored", () => {
    say(widget, "Your earlier upload is back; it continues where it stopped (re-add the file if asked).");
  });

  widget.dataset.ready = "true";
  const pending = window.localStorage.getItem(pendingKey);
  if (pending) await finish(pending, { quietIfGone: true });
}
