/* Progressive enhancement of the server-rendered pages. Every page works without this file;
   it adds confirmations, "select all" boxes and the statistics graphs (uPlot). */
(function () {
  "use strict";

  // <form data-confirm="Really delete?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // <input type="checkbox" data-select-all="name">: ticks every box named `name`.
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    all.addEventListener("change", function () {
      var name = all.getAttribute("data-select-all");
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });

  // <select data-submit-on-change>: submit its form when it changes.
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // <div class="chart" data-source="id-of-json-script">: a line graph of the series in the JSON
  // {"labels": [unix seconds...], "series": [{"name": "Outgoing", "values": [...]}, ...]}.
  var colours = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c"];
  document.querySelectorAll(".chart[data-source]").forEach(function (element) {
    var source = document.getElementById(element.getAttribute("data-source"));
    if (!source || typeof window.uPlot === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var series = [{}];
    var columns = [data.labels];
    data.series.forEach(function (s, i) {
      series.push({ label: s.name, stroke: colours[i % colours.length], width: 2, points: { show: false } });
      columns.push(s.values);
    });
    var options = {
      width: element.clientWidth || 800,
      height: 240,
      series: series,
      axes: [{}, { size: 50 }],
      scales: { x: { time: true } },
      legend: { show: true },
    };
    element.textContent = "";
    var plot = new window.uPlot(options, columns, element);
    element.setAttribute("data-rendered", "true");
    window.addEventListener("resize", function () {
      plot.setSize({ width: element.clientWidth || 800, height: 240 });
    });
  });
})();
