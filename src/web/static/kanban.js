// The pipeline board: drag a card to another column (SortableJS) to change its stage.
// The move goes through htmx (CSRF header, toasts, the board re-rendered with its
// totals); when the server refuses, the card goes back where it was. Without
// JavaScript, each card's "Déplacer vers…" form does the same.
(function () {
  "use strict";

  function revert(evt) {
    var card = evt.item;
    if (!card.isConnected || card.parentNode !== evt.to) return; // the board was re-rendered
    var before = evt.from.children[evt.oldIndex] || null;
    evt.from.insertBefore(card, before);
  }

  function onEnd(evt) {
    if (evt.from === evt.to) return; // the order inside a column is not stored
    var card = evt.item;
    var undo = function () { revert(evt); };
    htmx.ajax("POST", card.dataset.moveUrl, {
      source: card,
      target: "#board",
      swap: "outerHTML",
      values: { etapePipeline: evt.to.dataset.etape, depuis: "board" },
    }).then(undo, undo);
  }

  function init() {
    var board = document.getElementById("board");
    if (!board || !window.Sortable || !window.htmx || board.dataset.canMove !== "true") return;
    if (board.dataset.sortable === "on") return;
    board.dataset.sortable = "on";
    board.querySelectorAll(".kanban-cards").forEach(function (list) {
      Sortable.create(list, {
        group: "pipeline",
        animation: 150,
        draggable: ".kanban-card",
        filter: "select, button, input, textarea, label",
        preventOnFilter: false,
        ghostClass: "kanban-ghost",
        chosenClass: "kanban-chosen",
        onEnd: onEnd,
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    init();
    if (!window.htmx) return;
    htmx.onLoad(function () { init(); });
    document.body.addEventListener("click", function (event) {
      var close = event.target.closest("#move-panel [data-close-panel]");
      if (!close) return;
      event.preventDefault();
      document.getElementById("move-panel").innerHTML = "";
    });
  });
})();
