// Charts of the tableau de bord, drawn over the figures already in the tables (Chart.js,
// served from /static/vendor). Without JavaScript the tables alone carry every number.
(function () {
  "use strict";
  var palette = ["#2f5bd3", "#6c8ef0", "#f0a030", "#7a4fc9", "#1f8a4c", "#c0392b"];
  var euro = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR", maximumFractionDigits: 0 });

  function draw() {
    var source = document.getElementById("dashboard-charts");
    if (!source || !window.Chart) return;
    var data = JSON.parse(source.textContent);
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.maintainAspectRatio = false;

    var stages = document.getElementById("chart-etapes");
    if (stages) {
      new Chart(stages, {
        type: "bar",
        data: {
          labels: data.etapes.labels,
          datasets: data.etapes.datasets.map(function (set, i) {
            return { label: set.label, data: set.data, backgroundColor: palette[i % palette.length] };
          }),
        },
        options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    }

    var compare = document.getElementById("chart-comparaison");
    if (compare) {
      new Chart(compare, {
        type: "bar",
        data: {
          labels: data.comparaison.labels,
          datasets: [
            { label: "Période", data: data.comparaison.periode, backgroundColor: palette[0] },
            { label: "Période précédente", data: data.comparaison.precedente, backgroundColor: "#b8c4dc" },
          ],
        },
        options: { scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return euro.format(v); } } } } },
      });
    }

    var forecast = document.getElementById("chart-prevision");
    if (forecast) {
      new Chart(forecast, {
        type: "bar",
        data: {
          labels: data.prevision.labels,
          datasets: [
            { label: "Fourchette à 80 %", data: data.prevision.fourchette, backgroundColor: "rgba(47, 91, 211, .25)" },
            { label: "Attendu", data: data.prevision.attendu, type: "line", borderColor: palette[2], backgroundColor: palette[2] },
          ],
        },
        options: { scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return euro.format(v); } } } } },
      });
    }
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
