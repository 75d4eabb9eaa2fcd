// Cairn's one script. Every page works without it; it only makes dialogs modal (focus stays in
// them, Escape closes them), copies a new API token to the clipboard, and refreshes the backup
// dashboard's progress bars from its JSON feed.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A dialog the server rendered open (no-JS fallback) becomes a real modal one.
  for (const dialog of document.querySelectorAll("dialog[data-modal][open]")) {
    dialog.close();
    dialog.showModal();
  }

  // "Create API token" opens its dialog in place instead of loading ?create=1.
  for (const opener of document.querySelectorAll("[data-opens]")) {
    opener.addEventListener("click", (event) => {
      const dialog = document.getElementById(opener.dataset.opens);
      if (!dialog || typeof dialog.showModal !== "function") return;
      event.preventDefault();
      dialog.showModal();
      const first = dialog.querySelector("input:not([type=hidden])");
      if (first) first.focus();
    });
  }
  for (const closer of document.querySelectorAll("[data-closes]")) {
    closer.addEventListener("click", (event) => {
      const dialog = document.getElementById(closer.dataset.closes);
      if (!dialog) return;
      event.preventDefault();
      dialog.close();
    });
  }

  // Copy to clipboard: the Clipboard API, or selecting the text and the older copy command.
  for (const button of document.querySelectorAll("[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById("copy-status");
    if (!field) continue;
    button.hidden = false;
    const say = (text) => {
      if (status) status.textContent = text;
    };
    const fallback = () => {
      field.focus();
      field.select();
      let copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (_) {
        copied = false;
      }
      say(copied ? "Copied to the clipboard." : "Press Ctrl+C (or ⌘C) to copy the selected token.");
    };
    button.addEventListener("click", () => {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(
          () => say("Copied to the clipboard."),
          fallback,
        );
      } else {
        fallback();
      }
    });
  }

  // The dashboard: every 2 s, the status, phase and items of each listed backup and restore. The
  // words come from the server (one place for them); a run that ends says so, a reload shows more.
  const activity = document.querySelector("[data-activity]");
  if (activity) {
    const refresh = () => {
      fetch(activity.dataset.activity, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((body) => {
          if (!body) return;
          for (const run of body.runs) {
            const cell = activity.querySelector(`[data-run-id="${CSS.escape(run.id)}"]`);
            if (cell) update(cell, run);
          }
        })
        .catch(() => {});
    };
    const update = (cell, run) => {
      const badge = cell.querySelector(".status .badge");
      if (badge) badge.textContent = run.status;
      const bar = cell.querySelector("progress");
      const phase = cell.querySelector(".phase");
      if (!run.inFlight) {
        const row = cell.querySelector(".progress-row");
        if (row) row.remove();
        if ((run.status === "FAILED" || run.status === "INCOMPLETE") && !cell.querySelector(".message")) {
          const message = document.createElement("p");
          message.className = "message";
          message.textContent = run.statusMessage;
          cell.append(message);
        }
        return;
      }
      if (bar) {
        if (run.itemsTotal !== null) {
          bar.max = Math.max(run.itemsTotal, 1);
          bar.value = run.itemsDone;
        } else {
          bar.removeAttribute("value");
        }
        bar.textContent = run.phase;
      }
      if (phase) phase.textContent = run.phase;
    };
    setInterval(refresh, 2000);
  }
});
