// gapfill review UI. No inline scripts (the CSP forbids them): page data comes from
// data-* attributes the server rendered, and every style change goes through the CSSOM.
"use strict";

(function () {
  function isSynthetic(spans, index) {
    // The clip's synthetic_spans are frame ranges of the file, end exclusive.
    for (const s of spans) {
      if (index >= s.frame_start && index < s.frame_end) return true;
    }
    return false;
  }

  function frameUrl(clipId, index) {
    return "/api/clips/" + clipId + "/frames/" + index;
  }

  function fmtTime(start, fps, index) {
    if (!fps) return "";
    const t = new Date(start.getTime() + (index / fps) * 1000);
    return t.toISOString().replace("T", " ").replace("Z", " UTC");
  }

  function setupPlayer(root) {
    const clip = JSON.parse(root.dataset.clip);
    const spans = clip.spans.slice().sort((a, b) => a.frame_start - b.frame_start);
    const count = clip.frame_count;
    const fps = clip.fps || 1;
    const start = new Date(clip.start_time);
    const stage = document.getElementById("stage");
    const img = document.getElementById("frame");
    const badge = document.getElementById("badge");
    const label = document.getElementById("frame-label");
    const cursor = document.getElementById("cursor");
    const timeline = document.getElementById("timeline");
    let index = spans.length ? Math.max(0, spans[0].frame_start - 1) : 0;
    let timer = null;

    // Timeline: the whole clip in grey, each synthetic span in its own colour.
    for (const s of spans) {
      const seg = document.createElement("div");
      seg.className = "segment synthetic";
      seg.style.left = (100 * s.frame_start / count) + "%";
      seg.style.width = (100 * (s.frame_end - s.frame_start) / count) + "%";
      seg.title = "synthetic frames " + s.frame_start + "–" + (s.frame_end - 1);
      timeline.appendChild(seg);
    }
    timeline.addEventListener("click", function (ev) {
      const box = timeline.getBoundingClientRect();
      show(Math.floor(count * (ev.clientX - box.left) / box.width));
    });

    function spanNear(i) {
      // The span containing frame i, else the next one, else the last one.
      for (const s of spans) if (i < s.frame_end) return s;
      return spans[spans.length - 1];
    }

    function setFigure(id, frame, text) {
      const fig = document.getElementById(id);
      const fimg = fig.querySelector("img");
      const cap = fig.querySelector("figcaption");
      if (frame < 0 || frame >= count) {
        fimg.hidden = true;
        fig.classList.remove("synthetic");
        cap.textContent = text + ": none (clip edge)";
        return;
      }
      const synth = isSynthetic(spans, frame);
      fimg.hidden = false;
      fimg.src = frameUrl(clip.id, frame);
      fig.classList.toggle("synthetic", synth);
      cap.textContent = (synth ? "SYNTHETIC" : "REAL") + " frame " + frame + " · " + text;
    }

    function show(i) {
      index = Math.min(Math.max(0, i), count - 1);
      const synth = isSynthetic(spans, index);
      img.src = frameUrl(clip.id, index);
      stage.classList.toggle("synthetic", synth);
      badge.hidden = !synth;
      stage.dataset.frame = String(index);
      stage.dataset.kind = synth ? "synthetic" : "real";
      label.textContent = "frame " + index + " / " + (count - 1) + " · " +
        (synth ? "SYNTHETIC" : "REAL") + " · " + fmtTime(start, fps, index);
      cursor.style.left = (100 * (index + 0.5) / count) + "%";
      if (spans.length) {
        const s = spanNear(index);
        setFigure("sbs-before", s.frame_start - 1, "last real frame before the span");
        setFigure("sbs-current", index, "current");
        setFigure("sbs-after", s.frame_end, "first real frame after the span");
      }
      // Warm the next frames so stepping and playing do not wait on the decoder.
      for (let k = 1; k <= 3 && index + k < count; k++) {
        new Image().src = frameUrl(clip.id, index + k);
      }
    }

    function stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      document.getElementById("btn-play").textContent = "Play";
    }

    document.getElementById("btn-first").addEventListener("click", () => { stop(); show(0); });
    document.getElementById("btn-last").addEventListener("click", () => { stop(); show(count - 1); });
    document.getElementById("btn-prev").addEventListener("click", () => { stop(); show(index - 1); });
    document.getElementById("btn-next").addEventListener("click", () => { stop(); show(index + 1); });
    document.getElementById("btn-span-next").addEventListener("click", function () {
      stop();
      const s = spans.find((x) => x.frame_start > index);
      if (s) show(s.frame_start);
    });
    document.getElementById("btn-span-prev").addEventListener("click", function () {
      stop();
      const before = spans.filter((x) => x.frame_start < index);
      if (before.length) show(before[before.length - 1].frame_start);
    });
    document.getElementById("btn-play").addEventListener("click", function () {
      if (timer !== null) { stop(); return; }
      this.textContent = "Pause";
      timer = setInterval(function () {
        if (index >= count - 1) { stop(); return; }
        show(index + 1);
      }, 1000 / fps);
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.target.tagName === "TEXTAREA" || ev.target.tagName === "INPUT") return;
      if (ev.key === "ArrowLeft") { stop(); show(index - 1); }
      if (ev.key === "ArrowRight") { stop(); show(index + 1); }
    });

    // The native player: the same per-frame decision from its current time and the clip fps.
    const video = document.getElementById("video");
    const videoBadge = document.getElementById("video-badge");
    const videoStage = document.getElementById("video-stage");
    function videoFlag() {
      const i = Math.floor(video.currentTime * fps + 1e-3);
      const synth = isSynthetic(spans, i);
      videoBadge.hidden = !synth;
      videoStage.classList.toggle("synthetic", synth);
    }
    video.addEventListener("timeupdate", videoFlag);
    video.addEventListener("seeked", videoFlag);

    show(index);
  }

  function setupVerify() {
    for (const button of document.querySelectorAll("button.verify")) {
      button.addEventListener("click", async function () {
        const out = button.nextElementSibling;
        out.textContent = " checking…";
        const response = await fetch("/api/clips/" + button.dataset.clip + "/verify",
          { credentials: "same-origin", headers: { Accept: "application/json" } });
        const body = await response.json();
        if (!response.ok) { out.textContent = " " + body.detail; return; }
        out.textContent = body.ok ? " verified" :
          " " + body.problems.map((p) => p.subject + ": " + p.message).join("; ");
        out.className = "verify-result " + (body.ok ? "ok" : "failed");
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const player = document.getElementById("player");
    if (player) setupPlayer(player);
    setupVerify();
  });
})();
