// The watch page's player: hls.js (or the browser's own HLS) under our own controls.
// Markup: templates/partials/viewer_player.html. Everything the viewer can do with
// the mouse also works from the keyboard: space/k play, arrows seek and change the
// volume, j/l jump 10 s, f full screen, m mute, 0-9 jump to a tenth of the film.
// On a touch screen a tap on the picture shows or hides the controls, as phone
// players do; they fade by themselves while the film plays. At the end the player
// offers to watch again and a few films to watch next.

const REPORT_EVERY_MS = 10_000;
const SEEK_STEP = 5;
const JUMP_STEP = 10;
const VOLUME_STEP = 0.05;
const IDLE_MS = 2_500;
const SETTINGS_KEY = "kf-player";
const AHEAD_SECONDS = 60; // the most the player buffers ahead of the picture

const root = document.getElementById("player");
if (root) startPlayer(root);

function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds || 0));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
}

function spokenClock(seconds) {
  const total = Math.max(0, Math.floor(seconds || 0));
  const parts = [];
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  if (hours) parts.push(`${hours} hour${hours === 1 ? "" : "s"}`);
  if (minutes) parts.push(`${minutes} minute${minutes === 1 ? "" : "s"}`);
  parts.push(`${total % 60} second${total % 60 === 1 ? "" : "s"}`);
  return parts.join(" ");
}

function loadSettings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}");
  } catch {
    return {};
  }
}

function saveSettings(changes) {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ ...loadSettings(), ...changes }));
  } catch {
    // private browsing: the choice lasts for this page only
  }
}

function startPlayer(root) {
  const $ = (id) => document.getElementById(id);
  const video = $("player-video");
  const ui = {
    play: $("player-play"),
    bigPlay: $("player-bigplay"),
    seek: $("player-seek"),
    seekArea: $("player-seek-area"),
    played: $("player-played"),
    buffered: $("player-buffered"),
    current: $("player-current"),
    duration: $("player-duration"),
    mute: $("player-mute"),
    volume: $("player-volume"),
    speed: $("player-speed"),
    speedMenu: $("player-speed-menu"),
    qualityWrap: $("player-quality-wrap"),
    quality: $("player-quality"),
    qualityMenu: $("player-quality-menu"),
    pip: $("player-pip"),
    fullscreen: $("player-fullscreen"),
    preview: $("player-preview"),
    previewImage: $("player-preview-image"),
    previewTime: $("player-preview-time"),
    status: $("player-status"),
    error: $("player-error"),
    errorMessage: $("player-error-message"),
    retry: $("player-retry"),
    resumed: $("player-resumed"),
    resumedText: $("player-resumed-text"),
    restart: $("player-restart"),
    end: $("player-end"),
    again: $("player-again"),
  };
  const data = root.dataset;
  const knownDuration = Number(data.duration) || 0;
  const duration = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : knownDuration);
  let hls = null;
  let recoveries = 0;
  const openMenus = []; // each menu's close()
  const closeMenus = () => openMenus.forEach((close) => close());

  // --- Source -----------------------------------------------------------------
  // Where the server says to start: it alone decides when a film starts over.
  const startAt = Number(data.resume) || 0;
  const signatures = segmentSignatures((Number(data.segmentSeconds) || 300) * 1000);

  function attach(position) {
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({
        startPosition: position,
        capLevelToPlayerSize: false,
        backBufferLength: 60,
        // A minute ahead at most (hls.js would fetch up to ten at a low bitrate): no
        // bandwidth spent on what a viewer who stops never sees.
        maxMaxBufferLength: AHEAD_SECONDS,
        // Each segment goes out with a URL from a media playlist fetched less than half
        // a signature's life ago (the app signs segment URLs for minutes only).
        xhrSetup: async (xhr, url, context) => {
          if (!context.frag) return;
          const fresh = await signatures.urlOf(context.frag);
          if (fresh && fresh !== url) xhr.open("GET", fresh, true);
        },
      });
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => buildQualityMenu());
      hls.on(window.Hls.Events.LEVEL_SWITCHED, () => labelQuality());
      hls.on(window.Hls.Events.LEVEL_LOADED, (_event, loaded) => signatures.keep(loaded.details, loaded.stats.loading.start));
      hls.on(window.Hls.Events.ERROR, (_event, error) => onHlsError(error));
      hls.loadSource(data.manifest);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      playNatively(position);
    } else {
      fail("This browser cannot play the film. Try a recent Chrome, Firefox, Edge or Safari.", false);
    }
  }

  // Safari's own HLS, its own quality choice. It cannot renew segment URLs, so when
  // one lapses it starts again from the playlists (fetched afresh) where it was.
  function playNatively(position) {
    video.src = data.manifest;
    if (position) {
      video.addEventListener("loadedmetadata", () => { video.currentTime = position; }, { once: true });
    }
  }

  video.addEventListener("error", () => {
    if (hls || !video.error || video.error.code !== video.error.MEDIA_ERR_NETWORK) return;
    if (recoveries >= 3) {
      fail("The film stopped loading. Check the connection and try again.", true);
      return;
    }
    recoveries += 1;
    const position = video.currentTime;
    playNatively(position);
    const started = video.play();
    if (started) started.catch(() => showBigPlay());
  });

  function onHlsError(error) {
    if (signatures.refusal) {
      // The playlists refused: the film or the viewer's plan no longer allows it.
      hls.stopLoad();
      video.pause();
      fail(`${signatures.refusal.message} Try again to see your options.`, true);
      return;
    }
    if (error.frag && error.response && error.response.code === 403) signatures.expire(error.frag.baseurl);
    if (!error.fatal) return;
    if (recoveries >= 3) {
      fail("The film stopped loading. Check the connection and try again.", true);
      return;
    }
    recoveries += 1;
    if (error.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
      hls.startLoad();
    } else if (error.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
      hls.recoverMediaError();
    } else {
      fail("The film could not be played.", true);
    }
  }

  function fail(message, canRetry) {
    reportProgress();
    ui.errorMessage.textContent = message;
    ui.retry.hidden = !canRetry;
    ui.error.hidden = false;
    root.classList.add("player-failed");
  }

  // Media URLs are signed and expire: trying again asks the page for fresh ones.
  ui.retry.addEventListener("click", () => {
    reportProgress(true);
    window.location.reload();
  });

  // --- Play, pause, time --------------------------------------------------------
  function togglePlay() {
    if (video.paused || video.ended) {
      const started = video.play();
      if (started) started.catch(() => showBigPlay());
    } else {
      video.pause();
    }
  }

  function showBigPlay() {
    root.classList.remove("player-started");
  }

  function syncPlayButton() {
    const paused = video.paused || video.ended;
    root.classList.toggle("player-paused", paused);
    ui.play.setAttribute("aria-label", paused ? "Play" : "Pause");
    if (!paused) root.classList.add("player-started");
  }

  function syncTime() {
    const total = duration();
    const now = video.currentTime;
    ui.current.textContent = clock(now);
    ui.duration.textContent = clock(total);
    if (!seeking) {
      ui.seek.max = String(total || 0);
      ui.seek.value = String(now);
    }
    ui.seek.setAttribute("aria-valuetext", `${spokenClock(now)} of ${spokenClock(total)}`);
    ui.played.style.width = total ? `${(100 * now) / total}%` : "0";
  }

  function syncBuffered() {
    const total = duration();
    const ranges = video.buffered;
    let end = 0;
    for (let index = 0; index < ranges.length; index += 1) {
      if (ranges.start(index) <= video.currentTime + 0.5) end = Math.max(end, ranges.end(index));
    }
    ui.buffered.style.width = total ? `${(100 * end) / total}%` : "0";
  }

  ui.play.addEventListener("click", togglePlay);
  ui.bigPlay.addEventListener("click", () => {
    togglePlay();
    ui.play.focus({ preventScroll: true });
  });
  // A tap on a touch screen brings back hidden controls, and hides them again while
  // the film plays (pausing is the play button's job); a paused film plays. A click
  // with a mouse plays or pauses.
  let touched = false;
  let hiddenAtTouch = false; // as the tap began: the player's pointerup wakes them first
  video.addEventListener("pointerdown", (event) => {
    touched = event.pointerType === "touch";
    hiddenAtTouch = root.classList.contains("player-idle");
  });
  video.addEventListener("click", () => {
    if (!touched) {
      togglePlay();
    } else if (hiddenAtTouch) {
      wake();
    } else if (video.paused) {
      togglePlay();
    } else {
      sleep();
    }
    touched = false;
  });
  video.addEventListener("dblclick", toggleFullscreen);
  video.addEventListener("play", syncPlayButton);
  video.addEventListener("pause", () => {
    syncPlayButton();
    reportProgress();
  });
  video.addEventListener("ended", () => {
    syncPlayButton();
    reportProgress();
    showEnd();
  });
  video.addEventListener("playing", () => {
    root.classList.remove("player-waiting");
    root.classList.add("player-started");
    ui.error.hidden = true;
    recoveries = 0;
  });
  video.addEventListener("waiting", () => root.classList.add("player-waiting"));
  video.addEventListener("canplay", () => root.classList.remove("player-waiting"));
  video.addEventListener("timeupdate", syncTime);
  video.addEventListener("durationchange", syncTime);
  video.addEventListener("progress", syncBuffered);
  video.addEventListener("seeked", syncBuffered);

  // --- Seeking, with thumbnail previews from the sprite VTT ------------------------
  let seeking = false;
  ui.seek.addEventListener("input", () => {
    seeking = true;
    const target = Number(ui.seek.value);
    ui.current.textContent = clock(target);
    ui.played.style.width = duration() ? `${(100 * target) / duration()}%` : "0";
    showPreview(target, fractionOf(target));
  });
  ui.seek.addEventListener("change", () => {
    seeking = false;
    video.currentTime = Number(ui.seek.value);
    hidePreview();
  });

  // The index's sprite URLs are signed like segments: fetched again once half-way to lapsing.
  let cues = null;
  let cuesAt = 0;
  async function loadCues() {
    if (!data.thumbnails || (cues !== null && !signatures.aged(cuesAt))) return;
    cues = cues || [];
    cuesAt = performance.now();
    try {
      const response = await fetch(data.thumbnails, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) cues = parseSpriteVtt(await response.text(), response.url);
    } catch {
      // no previews: seeking still works
    }
  }

  function fractionOf(seconds) {
    return duration() ? seconds / duration() : 0;
  }

  function showPreview(seconds, fraction) {
    ui.previewTime.textContent = clock(seconds);
    const cue = cues && cues.find((item) => seconds >= item.start && seconds < item.end);
    if (cue) {
      ui.previewImage.hidden = false;
      ui.previewImage.style.backgroundImage = `url("${cue.url}")`;
      ui.previewImage.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
      ui.previewImage.style.width = `${cue.w}px`;
      ui.previewImage.style.height = `${cue.h}px`;
    } else {
      ui.previewImage.hidden = true;
    }
    ui.preview.hidden = false;
    const area = ui.seekArea.getBoundingClientRect();
    const frame = root.getBoundingClientRect();
    const half = ui.preview.offsetWidth / 2;
    const at = area.left - frame.left + fraction * area.width;
    ui.preview.style.left = `${Math.min(Math.max(at, half), frame.width - half)}px`;
  }

  function hidePreview() {
    ui.preview.hidden = true;
  }

  ui.seekArea.addEventListener("pointerenter", loadCues);
  ui.seek.addEventListener("focus", loadCues);
  ui.seekArea.addEventListener("pointermove", (event) => {
    const area = ui.seekArea.getBoundingClientRect();
    const fraction = Math.min(Math.max((event.clientX - area.left) / area.width, 0), 1);
    showPreview(fraction * duration(), fraction);
  });
  ui.seekArea.addEventListener("pointerleave", () => {
    if (!seeking) hidePreview();
  });

  // --- Volume and speed ----------------------------------------------------------
  const saved = loadSettings();
  if (typeof saved.volume === "number") video.volume = Math.min(Math.max(saved.volume, 0), 1);
  if (saved.muted) video.muted = true;

  function syncVolume() {
    const level = video.muted ? 0 : video.volume;
    ui.volume.value = String(level);
    ui.volume.setAttribute("aria-valuetext", `${Math.round(level * 100)} %`);
    root.classList.toggle("player-muted", video.muted || video.volume === 0);
    ui.mute.setAttribute("aria-label", video.muted ? "Unmute" : "Mute");
  }

  function setVolume(level) {
    video.volume = Math.min(Math.max(level, 0), 1);
    video.muted = video.volume === 0;
    saveSettings({ volume: video.volume, muted: video.muted });
  }

  function toggleMute() {
    video.muted = !video.muted;
    if (!video.muted && video.volume === 0) video.volume = 0.5;
    saveSettings({ muted: video.muted, volume: video.volume });
  }

  ui.volume.addEventListener("input", () => setVolume(Number(ui.volume.value)));
  ui.mute.addEventListener("click", toggleMute);
  video.addEventListener("volumechange", syncVolume);
  syncVolume();

  function setSpeed(rate) {
    video.playbackRate = rate;
    ui.speed.textContent = `${rate}×`;
    ui.speed.setAttribute("aria-label", `Playback speed: ${rate === 1 ? "normal" : `${rate} times`}`);
    for (const item of ui.speedMenu.querySelectorAll("[data-speed]")) {
      item.setAttribute("aria-checked", String(Number(item.dataset.speed) === rate));
    }
  }
  let currentSpeed = 1;
  // A new source resets the rate: keep the viewer's choice.
  video.addEventListener("loadedmetadata", () => setSpeed(currentSpeed));
  menu(ui.speed, ui.speedMenu, (item) => {
    currentSpeed = Number(item.dataset.speed);
    setSpeed(currentSpeed);
  });

  // --- Quality: only the rungs the viewer may watch are in the manifest -----------
  function rungOf(level) {
    const height = level.width && level.height ? Math.min(level.width, level.height) : level.height;
    return height ? `${height}p` : `${Math.round(level.bitrate / 1000)} kb/s`;
  }

  function buildQualityMenu() {
    const levels = hls.levels.map((level, index) => ({ index, level })).sort((a, b) => b.level.bitrate - a.level.bitrate);
    ui.qualityMenu.replaceChildren();
    const add = (index, text) => {
      const item = document.createElement("button");
      item.type = "button";
      item.setAttribute("role", "menuitemradio");
      item.tabIndex = -1;
      item.dataset.level = String(index);
      item.textContent = text;
      const entry = document.createElement("li");
      entry.setAttribute("role", "none");
      entry.append(item);
      ui.qualityMenu.append(entry);
    };
    add(-1, "Auto");
    for (const { index, level } of levels) add(index, rungOf(level));
    ui.qualityWrap.hidden = levels.length < 2;
    labelQuality();
  }

  function labelQuality() {
    if (!hls) return;
    const chosen = hls.autoLevelEnabled ? -1 : hls.currentLevel;
    const playing = hls.levels[hls.currentLevel];
    const text = chosen === -1 ? `Auto${playing ? ` (${rungOf(playing)})` : ""}` : rungOf(hls.levels[chosen]);
    ui.quality.textContent = chosen === -1 ? "Auto" : rungOf(hls.levels[chosen]);
    ui.quality.setAttribute("aria-label", `Quality: ${text}`);
    root.dataset.quality = playing ? rungOf(playing) : "";
    for (const item of ui.qualityMenu.querySelectorAll("[data-level]")) {
      item.setAttribute("aria-checked", String(Number(item.dataset.level) === chosen));
    }
  }

  menu(ui.quality, ui.qualityMenu, (item) => {
    const level = Number(item.dataset.level);
    if (level === -1) {
      hls.currentLevel = -1;
    } else {
      hls.currentLevel = level; // switches now, flushing what was buffered
    }
    labelQuality();
    announce(`Quality ${item.textContent}`);
  });

  // A menu button: opens its list, arrows move, Enter/Space choose, Escape closes.
  function menu(button, list, choose) {
    const items = () => [...list.querySelectorAll("[role=menuitemradio]")];
    const close = (focusButton) => {
      list.hidden = true;
      button.setAttribute("aria-expanded", "false");
      if (focusButton) button.focus();
    };
    const open = () => {
      closeMenus();
      list.hidden = false;
      button.setAttribute("aria-expanded", "true");
      const current = items().find((item) => item.getAttribute("aria-checked") === "true") || items()[0];
      if (current) current.focus();
    };
    openMenus.push(() => close(false));
    button.addEventListener("click", () => (list.hidden ? open() : close(false)));
    list.addEventListener("click", (event) => {
      const item = event.target.closest("[role=menuitemradio]");
      if (!item) return;
      choose(item);
      close(true);
    });
    list.addEventListener("keydown", (event) => {
      const all = items();
      const at = all.indexOf(document.activeElement);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        all[(at + step + all.length) % all.length].focus();
      } else if (event.key === "Home" || event.key === "End") {
        event.preventDefault();
        all[event.key === "Home" ? 0 : all.length - 1].focus();
      } else if (event.key === "Escape") {
        event.preventDefault();
        close(true);
      } else if (event.key === "Tab") {
        close(false);
      }
      event.stopPropagation();
    });
  }

  // --- Full screen and picture-in-picture ---------------------------------------
  function toggleFullscreen() {
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else if (root.requestFullscreen) {
      root.requestFullscreen().catch(() => {});
    } else if (video.webkitEnterFullscreen) {
      video.webkitEnterFullscreen(); // iPhone: only the video itself goes full screen
    }
  }

  document.addEventListener("fullscreenchange", () => {
    const full = document.fullscreenElement === root;
    root.classList.toggle("player-fullscreen", full);
    ui.fullscreen.setAttribute("aria-label", full ? "Exit full screen" : "Full screen");
  });
  ui.fullscreen.addEventListener("click", toggleFullscreen);

  if (document.pictureInPictureEnabled && !video.disablePictureInPicture) {
    ui.pip.hidden = false;
    ui.pip.addEventListener("click", () => {
      const change = document.pictureInPictureElement
        ? document.exitPictureInPicture()
        : video.requestPictureInPicture();
      change.catch(() => announce("Picture in picture is not available right now."));
    });
    video.addEventListener("enterpictureinpicture", () => ui.pip.setAttribute("aria-label", "Leave picture in picture"));
    video.addEventListener("leavepictureinpicture", () => ui.pip.setAttribute("aria-label", "Picture in picture"));
  }

  // --- Keyboard ----------------------------------------------------------------
  function seekBy(seconds) {
    const target = Math.min(Math.max(video.currentTime + seconds, 0), duration() || video.currentTime + seconds);
    video.currentTime = target;
    announce(`${seconds > 0 ? "Forward" : "Back"} ${Math.abs(seconds)} seconds, ${spokenClock(target)}`);
  }

  function setVolumeBy(step) {
    setVolume((video.muted ? 0 : video.volume) + step);
    announce(`Volume ${Math.round(video.volume * 100)} %`);
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    const typing = target.closest("input:not([type=range]), textarea, select, [contenteditable]");
    const onControl = target.closest("button, a, input[type=range]");
    if (typing) return;
    const key = event.key;
    const act = {
      " ": () => togglePlay(),
      k: () => togglePlay(),
      ArrowLeft: () => seekBy(-SEEK_STEP),
      ArrowRight: () => seekBy(SEEK_STEP),
      j: () => seekBy(-JUMP_STEP),
      l: () => seekBy(JUMP_STEP),
      ArrowUp: () => setVolumeBy(VOLUME_STEP),
      ArrowDown: () => setVolumeBy(-VOLUME_STEP),
      f: () => toggleFullscreen(),
      m: () => {
        toggleMute();
        announce(video.muted ? "Muted" : "Sound on");
      },
    }[key.length === 1 ? key.toLowerCase() : key];
    // Buttons and links keep Space and Enter; the sliders keep their arrows.
    if (onControl && (key === " " || key === "Enter")) return;
    if (target.matches?.("input[type=range]") && key.startsWith("Arrow")) return;
    // The page scrolls with the arrows when the player is out of view.
    if (key.startsWith("Arrow") && !inView()) return;
    if (act) {
      event.preventDefault();
      act();
      wake();
    } else if (/^[0-9]$/.test(key) && duration()) {
      event.preventDefault();
      video.currentTime = (Number(key) / 10) * duration();
      wake();
    }
  });

  function inView() {
    const box = root.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  }

  // --- Menus close on an outside click; controls hide while the film plays --------
  document.addEventListener("pointerdown", (event) => {
    if (!event.target.closest(".player-menu")) closeMenus();
  });

  let idleTimer = 0;
  function wake() {
    root.classList.remove("player-idle");
    window.clearTimeout(idleTimer);
    idleTimer = window.setTimeout(sleep, IDLE_MS);
  }

  // Hide the controls while the film plays, unless someone is using them: a menu is
  // open, or the keyboard is on a control (focus left on a button by a tap is not).
  function sleep() {
    window.clearTimeout(idleTimer);
    const menuOpen = root.querySelector(".player-menu-list:not([hidden])");
    const focused = document.activeElement;
    const keyboardOnControls = focused?.closest(".player-controls") && focused.matches(":focus-visible");
    if (!video.paused && !menuOpen && !keyboardOnControls) root.classList.add("player-idle");
  }
  root.addEventListener("pointermove", wake);
  root.addEventListener("pointerup", (event) => {
    if (event.pointerType === "touch") wake();
  });
  root.addEventListener("focusin", wake);
  video.addEventListener("play", wake);
  video.addEventListener("pause", wake); // paused, the controls stay

  function announce(text) {
    ui.status.textContent = text;
  }

  // --- The end: watch again, or another film ----------------------------------------
  function showEnd() {
    const focusWasHere = root.contains(document.activeElement);
    root.classList.add("player-ended");
    ui.end.hidden = false;
    announce("The film has ended. Watch it again, or choose another film.");
    if (focusWasHere) ui.again.focus({ preventScroll: true });
  }

  function hideEnd() {
    root.classList.remove("player-ended");
    ui.end.hidden = true;
  }

  ui.again.addEventListener("click", () => {
    hideEnd();
    video.currentTime = 0;
    const started = video.play();
    if (started) started.catch(() => showBigPlay());
    ui.play.focus({ preventScroll: true });
  });
  video.addEventListener("play", hideEnd);
  video.addEventListener("seeking", () => {
    if (!video.ended) hideEnd();
  });

  // --- Resume and progress reports ----------------------------------------------
  if (startAt) {
    ui.resumedText.textContent = `Resuming at ${clock(startAt)}`;
    ui.resumed.hidden = false;
    ui.restart.addEventListener("click", () => {
      video.currentTime = 0;
      ui.resumed.hidden = true;
      const started = video.play();
      if (started) started.catch(() => showBigPlay());
    });
    video.addEventListener("playing", () => {
      window.setTimeout(() => { ui.resumed.hidden = true; }, 6_000);
    }, { once: true });
  }

  // Each report is also this device's stream heartbeat: the plan lets only so many
  // devices play at once, and a device silent for a minute gives up its place.
  let lastReported = -1;
  let streamLost = false;
  let streamGivenUp = false; // hidden or closed: the place was handed back (see below)

  function pageForm() {
    const form = new FormData();
    form.append("csrf_token", document.querySelector('meta[name="csrf-token"]')?.content ?? "");
    return form;
  }

  // The position worth remembering now, or null (nothing played yet, or already said).
  function positionToReport() {
    if (!("reportProgress" in data)) return null;
    const position = Math.floor(video.ended ? duration() : video.currentTime);
    if (position === lastReported || (position === 0 && lastReported === -1 && !video.ended)) return null;
    return position;
  }

  function reportProgress(leaving = false) {
    if (streamLost || streamGivenUp || !("reportProgress" in data) || !data.progressUrl) return;
    const position = positionToReport();
    if (position === null) return;
    lastReported = position;
    const form = pageForm();
    form.append("position", String(position));
    // sendBeacon survives the page closing; while the page stays, fetch hears the answer.
    if (leaving && navigator.sendBeacon && navigator.sendBeacon(data.progressUrl, form)) return;
    fetch(data.progressUrl, { method: "POST", body: form, credentials: "same-origin", keepalive: leaving })
      .then((response) => (response.status === 409 ? response.json().then(loseStream) : null))
      .catch(() => {});
  }

  // Another device started watching after this one had gone quiet, and took its place.
  function loseStream(answer) {
    streamLost = true;
    video.pause();
    if (hls) hls.stopLoad();
    const limit = answer?.error?.limit;
    const devices = limit ? ` Your plan lets ${limit} device${limit === 1 ? "" : "s"} watch at once.` : "";
    fail(`Paused: your account is watching on another device now.${devices} Try again to see your devices.`, true);
    root.dataset.stream = "lost";
  }

  // A page hidden or closed hands its place back at once (a beacon: it outlives the
  // page), saying how far the viewer got and which stream it started, so that a newer
  // page of this browser (a reload, the next film) keeps its own. Shown again (or kept
  // by the browser and brought back), it asks for a place before it plays on; a film
  // playing on in a hidden tab asks at its next heartbeat.
  function giveUpStream() {
    if (!data.streamUrl || !data.streamStarted) {
      reportProgress(true);
      return;
    }
    if (streamGivenUp || streamLost) return;
    streamGivenUp = true;
    const form = pageForm();
    form.append("started", data.streamStarted);
    const position = positionToReport();
    if (position !== null) {
      form.append("position", String(position));
      lastReported = position;
    }
    const url = `${data.streamUrl}/end`;
    if (navigator.sendBeacon && navigator.sendBeacon(url, form)) return;
    fetch(url, { method: "POST", body: form, credentials: "same-origin", keepalive: true }).catch(() => {});
  }

  let rejoining = null;
  function rejoinStream() {
    if (!streamGivenUp || streamLost || !data.streamUrl) return;
    rejoining = rejoining || fetch(data.streamUrl, { method: "POST", body: pageForm(), credentials: "same-origin" })
      .then(async (response) => {
        const answer = await response.json().catch(() => null);
        if (response.ok && answer?.started_at) {
          data.streamStarted = answer.started_at;
          streamGivenUp = false;
        } else if (response.status === 409) {
          loseStream(answer);
        }
      })
      .catch(() => {}) // offline: asked again at the next heartbeat, or when played
      .finally(() => { rejoining = null; });
  }

  window.setInterval(() => {
    if (video.paused || video.ended) return;
    if (streamGivenUp) rejoinStream();
    else reportProgress();
  }, REPORT_EVERY_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") giveUpStream();
    else rejoinStream();
  });
  window.addEventListener("pagehide", giveUpStream);
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) rejoinStream();
  });
  video.addEventListener("play", rejoinStream);
  // Going back or forward, the browser may show this page from its HTTP cache: then the
  // server opened no stream for this visit, and the one the page names was handed back.
  const [arrival] = performance.getEntriesByType?.("navigation") ?? [];
  if (arrival?.type === "back_forward" && data.streamUrl) {
    streamGivenUp = true;
    rejoinStream();
  }

  // --- Go -----------------------------------------------------------------------
  root.classList.add("player-ready", "player-paused");
  syncTime();
  attach(startAt);
  // Start at once where the browser allows it; otherwise the big play button waits.
  const started = video.play();
  if (started) started.catch(() => showBigPlay());
}

// Fresh segment URLs: the app signs the URLs inside a media playlist for `lifetime` ms
// only (and checks the viewer's right to the film at every playlist fetch). Each media
// playlist's URLs are kept with the time it was fetched; a segment asked for when they
// are half-way to lapsing makes one fetch of that playlist, and uses the URL found there.
function segmentSignatures(lifetime) {
  const playlists = new Map(); // media playlist URL -> { fetchedAt, urls: Map(sn | "init" -> URL), renewing }
  const keeper = {
    refusal: null, // the playlists' error ({code, message}) once they refuse
    aged: (since) => performance.now() - since > lifetime / 2,
    keep(details, fetchedAt) {
      const urls = new Map();
      for (const fragment of details.fragments) {
        urls.set(fragment.sn, fragment.url);
        if (fragment.initSegment && !urls.has("init")) urls.set("init", fragment.initSegment.url);
      }
      playlists.set(details.url, { fetchedAt, urls, renewing: null });
    },
    expire(url) {
      const entry = playlists.get(url);
      if (entry) entry.fetchedAt = -Infinity;
    },
    async urlOf(fragment) {
      let entry = playlists.get(fragment.baseurl);
      if (!entry) return null;
      if (keeper.aged(entry.fetchedAt)) entry = await renew(fragment.baseurl, entry);
      return entry.urls.get(fragment.sn === "initSegment" ? "init" : fragment.sn) || null;
    },
  };

  function renew(url, entry) {
    if (!entry.renewing) {
      entry.renewing = (async () => {
        const fetchedAt = performance.now();
        const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) {
          const answer = await response.json().catch(() => null);
          if (response.status === 403 && answer && answer.error) keeper.refusal = answer.error;
          throw new Error(`${response.status} renewing ${url}`);
        }
        const fresh = { fetchedAt, urls: mediaPlaylistUrls(await response.text(), response.url), renewing: null };
        playlists.set(url, fresh);
        return fresh;
      })().finally(() => { entry.renewing = null; });
    }
    return entry.renewing;
  }

  return keeper;
}

// The init segment ("init") and each media segment (by sequence number) of a media playlist.
function mediaPlaylistUrls(text, base) {
  const urls = new Map();
  let sequence = 0;
  let expectSegment = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) {
      sequence = Number(line.slice("#EXT-X-MEDIA-SEQUENCE:".length));
    } else if (line.startsWith("#EXT-X-MAP:")) {
      const uri = /URI="([^"]+)"/.exec(line);
      if (uri) urls.set("init", new URL(uri[1], base).href);
    } else if (line.startsWith("#EXTINF:")) {
      expectSegment = true;
    } else if (line && !line.startsWith("#") && expectSegment) {
      urls.set(sequence, new URL(line, base).href);
      sequence += 1;
      expectSegment = false;
    }
  }
  return urls;
}

// "sprite_000.jpg#xywh=0,0,160,90" cues, their URLs resolved against the VTT's own.
function parseSpriteVtt(text, base) {
  const cues = [];
  const blocks = text.replace(/\r/g, "").split(/\n\n+/);
  for (const block of blocks) {
    const lines = block.split("\n");
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing === -1 || !lines[timing + 1]) continue;
    const [start, end] = lines[timing].split("-->").map((part) => seconds(part.trim().split(/\s+/)[0]));
    const [file, fragment = ""] = lines[timing + 1].trim().split("#");
    const box = /xywh=(\d+),(\d+),(\d+),(\d+)/.exec(fragment);
    if (!box) continue;
    const [x, y, w, h] = box.slice(1).map(Number);
    cues.push({ start, end, url: new URL(file, base).href, x, y, w, h });
  }
  return cues;
}

function seconds(stamp) {
  const parts = stamp.split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}
