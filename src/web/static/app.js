// Toasts, htmx settings and small keyboard helpers of the staff screens.
(function () {
  "use strict";

  function toast(kind, text) {
    var box = document.getElementById("toasts");
    if (!box || !text) return;
    var item = document.createElement("div");
    item.className = "toast toast-" + (kind || "info");
    item.textContent = text;
    box.appendChild(item);
    setTimeout(function () { item.classList.add("toast-hide"); }, 4500);
    setTimeout(function () { item.remove(); }, 5200);
  }
  window.crmToast = toast;

  // A "Copier" button: <button data-copy="#id-of-an-input">. Without JavaScript the
  // address stays selectable in its read-only field.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    var value = field.value || field.textContent;
    function copied() { toast("success", "Adresse copiée."); }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(copied, function () { field.select(); });
    } else {
      field.select();
      try { document.execCommand("copy"); copied(); } catch (ignored) { /* selected */ }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    // « Copier » buttons: data-copy names the input whose value goes to the clipboard.
    document.body.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-copy]") : null;
      if (!button) return;
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) return;
      input.select();
      var done = function () { toast("success", "Lien copié."); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          toast("info", "Copiez le lien sélectionné avec Ctrl+C.");
        });
      } else {
        toast("info", "Copiez le lien sélectionné avec Ctrl+C.");
      }
    });
    document.querySelectorAll("#toasts .toast").forEach(function (item) {
      setTimeout(function () { item.classList.add("toast-hide"); }, 4500);
    });
    if (!window.htmx) return;
    // 422 carries a form re-rendered with its field errors: swap it like a success.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
    // A problem JSON (a refused move, an archived client...) is never swapped into the
    // page: its French detail becomes an error toast instead.
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      var type = event.detail.xhr.getResponseHeader("content-type") || "";
      if (event.detail.shouldSwap && type.indexOf("json") !== -1) {
        event.detail.shouldSwap = false;
        try {
          toast("error", JSON.parse(event.detail.xhr.responseText).detail || "Action refusée.");
        } catch (ignored) {
          toast("error", "Action refusée.");
        }
      }
    });
    document.body.addEventListener("toast", function (event) {
      toast(event.detail.kind, event.detail.text);
    });
    document.body.addEventListener("htmx:responseError", function (event) {
      var xhr = event.detail.xhr;
      var message = "Une erreur est survenue (" + xhr.status + ").";
      try {
        var problem = JSON.parse(xhr.responseText);
        if (problem.detail) message = problem.detail;
      } catch (ignored) {
        if (xhr.status === 403) message = "Votre rôle ne permet pas cette action.";
        if (xhr.status === 429) message = "Trop de tentatives : patientez une minute.";
      }
      toast("error", message);
    });
    document.body.addEventListener("htmx:sendError", function () {
      toast("error", "Le serveur ne répond pas : vérifiez votre connexion.");
    });
  });
})();
