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

  document.addEventListener("DOMContentLoaded", function () {
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
