/* Charts (statistics pages, related panels of detail pages, /logs/*, the big screen): draws each
   <div class="chart" data-chart="{json}"> with ECharts when static/vendor/echarts.min.js is
   installed (scripts/setup.sh). The JSON: {kind, x: [axis labels, dates on a time axis],
   series: [{label, data}], lines: [{label, value}] (dashed reference lines, e.g. thresholds)}. Without it the page keeps the tables of the same numbers, which it
   always shows. Under the CSP (script-src 'self'; style-src 'self'): no inline script, and no
   inline style either. ECharts' default tooltip is an HTML string with style="..." attributes,
   which the browser refuses; the tooltip here is built as DOM nodes (text through textContent,
   look through classes in app.css, the series colour through the CSSOM, which the CSP allows). */
(function () {
  "use strict";

  function node(tag, className, text) {
    var n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // One line per series: colour marker, series name, value. ECharts puts the returned node in
  // its tooltip box as is (no HTML parsing, so nothing for the CSP to refuse).
  function tooltip(params) {
    var items = Array.isArray(params) ? params : [params];
    var box = node("div", "chart-tip");
    if (items.length) box.appendChild(node("div", "chart-tip-title", String(items[0].name)));
    items.forEach(function (p) {
      var line = node("div", "chart-tip-line");
      var marker = node("span", "chart-tip-marker");
      if (typeof p.color === "string") marker.style.backgroundColor = p.color;
      line.appendChild(marker);
      line.appendChild(node("span", "chart-tip-name", p.seriesName));
      line.appendChild(node("span", "chart-tip-value", String(Array.isArray(p.value) ? p.value[1] : p.value)));
      box.appendChild(line);
    });
    return box;
  }

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
    var lines = (chart.lines || []).filter(function (l) { return typeof l.value === "number"; });
    var series = chart.series.map(function (s, i) {
      var one = {
        name: s.label,
        type: chart.kind === "line" ? "line" : "bar",
        stack: chart.stacked ? "total" : undefined,
        smooth: chart.kind === "line",
        areaStyle: chart.kind === "line" ? {} : undefined,
        barMaxWidth: 48,
        data: s.data
      };
      // Reference lines (e.g. the threshold an alert crossed) ride on the first series; their
      // labels are ECharts' own text templates, not HTML.
      if (i === 0 && lines.length) {
        one.markLine = {
          silent: true, symbol: "none",
          label: { formatter: "{b}：{c}", position: "insideEndTop" },
          lineStyle: { type: "dashed", color: "#d9534f" },
          data: lines.map(function (l) { return { name: l.label, yAxis: l.value }; })
        };
      }
      return one;
    });
    // The value axis reaches the highest line even when every bar stays below it.
    var highest = 0;
    chart.series.forEach(function (s) {
      s.data.forEach(function (v) { if (typeof v === "number" && v > highest) highest = v; });
    });
    var lineTop = Math.max.apply(null, [0].concat(lines.map(function (l) { return l.value; })));
    // Many long labels (dates, street names) are slanted rather than thinned out.
    var many = chart.x.length > 12 && chart.x.some(function (x) { return String(x).length > 4; });
    var instance = window.echarts.init(el, null, { renderer: "canvas" });
    instance.setOption({
      tooltip: { trigger: "axis", formatter: tooltip },
      legend: chart.series.length > 1 ? { type: "scroll", top: 0 } : undefined,
      grid: { left: 48, right: 24, top: chart.series.length > 1 ? 36 : 16, bottom: many ? 72 : 32 },
      xAxis: { type: "category", data: chart.x,
               axisLabel: { hideOverlap: true, rotate: many ? 40 : 0 } },
      yAxis: { type: "value", minInterval: 1, max: lineTop > highest ? Math.ceil(lineTop * 1.1) : undefined },
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
