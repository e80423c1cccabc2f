/* Log charts (/logs/exceptions, /logs/oplog): draws each <div class="chart" data-chart="{json}">
   with ECharts when static/vendor/echarts.min.js is installed (scripts/setup.sh). Without it the
   page keeps the tables of the same numbers, which it always shows. No inline script: CSP. */
(function () {
  "use strict";

  function draw(el) {
    var chart;
    try {
      chart = JSON.parse(el.getAttribute("data-chart"));
    } catch (e) {
      return;
    }
    if (!chart || !chart.series || !chart.series.length) return;
    // Sized through the CSSOM (allowed by style-src 'self', unlike a style attribute).
    el.style.height = "320px";
    el.style.marginBottom = "12px";
    var series = chart.series.map(function (s) {
      return {
        name: s.label,
        type: chart.kind === "line" ? "line" : "bar",
        stack: chart.stacked ? "total" : undefined,
        smooth: chart.kind === "line",
        areaStyle: chart.kind === "line" ? {} : undefined,
        data: s.data
      };
    });
    var instance = window.echarts.init(el, null, { renderer: "canvas" });
    instance.setOption({
      tooltip: { trigger: "axis" },
      legend: chart.series.length > 1 ? { type: "scroll", top: 0 } : undefined,
      grid: { left: 48, right: 24, top: chart.series.length > 1 ? 36 : 16, bottom: 32 },
      xAxis: { type: "category", data: chart.x },
      yAxis: { type: "value", minInterval: 1 },
      series: series
    });
    el.setAttribute("data-drawn", "1");
    window.addEventListener("resize", function () { instance.resize(); });
  }

  function start() {
    if (!window.echarts || typeof window.echarts.init !== "function") return;
    Array.prototype.forEach.call(document.querySelectorAll("div.chart[data-chart]"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
