// Cairn's one script. Every page works without it; it only makes dialogs modal (focus stays in
// them, Escape closes them) and copies a new API token to the clipboard.
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
});
