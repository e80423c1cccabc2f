/* Map pages (#map[data-map]) and point pickers on forms (.geo-picker[data-for]), with Leaflet.
 * Base map: app.yaml `map: {tiles}`; without it, or when its tiles fail to load, a plain coordinate
 * grid drawn on canvas, so the pages work offline. No inline styles or HTML strings with style
 * attributes (the CSP is style-src 'self'): circle markers, class-styled divIcons, DOM popups. */
(function () {
  "use strict";
  if (typeof L === "undefined") { return; }

  var GridLayer = L.GridLayer.extend({
    createTile: function (coords) {
      var tile = document.createElement("canvas"), size = this.getTileSize();
      tile.width = size.x; tile.height = size.y;
      var g = tile.getContext("2d");
      g.fillStyle = "#f6f8fb"; g.fillRect(0, 0, size.x, size.y);
      g.strokeStyle = "#c9d2e0"; g.strokeRect(0, 0, size.x, size.y);
      var corner = this._map.unproject(coords.scaleBy(size), coords.z);
      g.fillStyle = "#6b778c"; g.font = "11px sans-serif";
      g.fillText(corner.lng.toFixed(4) + "°E", 4, 14);
      g.fillText(corner.lat.toFixed(4) + "°N", 4, 28);
      return tile;
    }
  });

  function baseMap(map, config) {
    var grid = new GridLayer({ attribution: "坐标网格" });
    map.specadminBase = "grid";
    if (!config.tiles) { grid.addTo(map); return; }
    var tiles = L.tileLayer(config.tiles, { attribution: config.attribution || "", maxZoom: 19 });
    var loaded = 0, failed = 0;
    tiles.on("tileload", function () { loaded += 1; });
    tiles.on("tileerror", function () {
      failed += 1;
      if (failed >= 2 && loaded === 0 && map.hasLayer(tiles)) {  // unreachable: fall back to the grid
        map.removeLayer(tiles); grid.addTo(map); map.specadminBase = "grid";
      }
    });
    tiles.addTo(map);
    map.specadminBase = "tiles";
  }

  function readConfig(el) {
    try { return JSON.parse(el.getAttribute("data-map")); } catch (e) { return {}; }
  }

  function setStatus(text) {
    var status = document.getElementById("map-status");
    if (status) { status.textContent = text; }
  }

  function popup(point, config) {
    var box = document.createElement("div");
    box.className = "map-popup";
    var title = document.createElement("div");
    title.textContent = point.label || ("#" + point.id);
    box.appendChild(title);
    var link = document.createElement("a");
    link.href = config.detail + point.id;
    link.textContent = "查看详情";
    box.appendChild(link);
    return box;
  }

  function mapPage(el) {
    var config = readConfig(el);
    var map = L.map(el, { center: [config.center[1], config.center[0]], zoom: config.zoom });
    baseMap(map, config);
    var layer = L.layerGroup().addTo(map), serial = 0;
    var given = new URLSearchParams(config.query || "");
    given.delete("page"); given.delete("page_size");

    function load() {
      var b = map.getBounds(), params = new URLSearchParams(given);
      var w = Math.max(b.getWest(), -180), e = Math.min(b.getEast(), 180);
      var s = Math.max(b.getSouth(), -90), n = Math.min(b.getNorth(), 90);
      params.set("screen", config.screen);
      params.set("bbox", [w, s, e, n].map(function (v) { return v.toFixed(6); }).join(","));
      params.set("zoom", String(Math.max(0, Math.min(20, map.getZoom()))));
      var mine = ++serial;
      fetch(config.api + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (answer) {
          if (mine !== serial) { return; }
          layer.clearLayers();
          if (!answer.ok) { setStatus("无法加载：" + (answer.body.detail || "请求出错")); return; }
          var data = answer.body;
          data.points.forEach(function (p) {
            L.circleMarker([p.lat, p.lng], { radius: 7, weight: 2, color: "#1677ff", fillColor: "#4096ff", fillOpacity: 0.8 })
              .bindPopup(popup(p, config)).bindTooltip(p.label || ("#" + p.id)).addTo(layer);
          });
          data.clusters.forEach(function (c) {
            var icon = L.divIcon({ className: "map-cluster" + (c.count >= 100 ? " big" : ""), html: String(c.count),
                                   iconSize: c.count >= 100 ? [46, 46] : [36, 36] });
            L.marker([c.lat, c.lng], { icon: icon, title: c.count + " 条" }).on("click", function () {
              map.setView([c.lat, c.lng], Math.min(map.getZoom() + 2, 19));
            }).addTo(layer);
          });
          el.setAttribute("data-total", String(data.total));
          el.setAttribute("data-points", String(data.points.length));
          setStatus(data.clusters.length
            ? "视野内共 " + data.total + " 条，聚合为 " + data.clusters.length + " 组（放大查看点位）"
            : "视野内共 " + data.total + " 条");
        })
        .catch(function () { if (mine === serial) { setStatus("无法加载地图数据"); } });
    }
    map.on("moveend", load);
    load();
    drawTool(map, config);
  }

  function drawTool(map, config) {
    var button = document.getElementById("btn-draw");
    if (!button) { return; }
    button.disabled = false;
    var vertices = [], line = null, drawing = false;
    function finish() {
      drawing = false; map.doubleClickZoom.enable(); button.disabled = false;
      if (vertices.length < 3) { setStatus("多边形至少需要 3 个顶点"); if (line) { map.removeLayer(line); } return; }
      var params = new URLSearchParams(config.query || "");
      params.delete("page");
      params.set(config.field + "_within", vertices.map(function (v) {
        return v.lng.toFixed(6) + "," + v.lat.toFixed(6);
      }).join(";"));
      window.location.href = config.list + "?" + params.toString();
    }
    button.addEventListener("click", function () {
      drawing = true; vertices = []; button.disabled = true; map.doubleClickZoom.disable();
      if (line) { map.removeLayer(line); }
      line = L.polygon([], { color: "#f56c00" }).addTo(map);
      setStatus("依次单击地图添加顶点，双击结束");
    });
    map.on("click", function (ev) {
      if (!drawing) { return; }
      vertices.push(ev.latlng); line.setLatLngs(vertices);
    });
    map.on("dblclick", function (ev) {
      if (!drawing) { return; }
      if (vertices.length && !vertices[vertices.length - 1].equals(ev.latlng)) { vertices.push(ev.latlng); }
      finish();
    });
  }

  function parsePoint(text) {
    var parts = (text || "").split(",");
    if (parts.length !== 2) { return null; }
    var lng = parseFloat(parts[0]), lat = parseFloat(parts[1]);
    if (!isFinite(lng) || !isFinite(lat) || Math.abs(lng) > 180 || Math.abs(lat) > 90) { return null; }
    return L.latLng(lat, lng);
  }

  function picker(el) {
    var input = document.getElementById(el.getAttribute("data-for"));
    if (!input) { return; }
    var config = readConfig(el), start = parsePoint(input.value);
    var map = L.map(el, { center: start || [config.center[1], config.center[0]], zoom: start ? 15 : config.zoom });
    baseMap(map, config);
    var marker = null;
    function place(latlng) {
      if (!marker) { marker = L.circleMarker(latlng, { radius: 7, color: "#f56c00", fillOpacity: 0.8 }).addTo(map); }
      else { marker.setLatLng(latlng); }
    }
    if (start) { place(start); }
    map.on("click", function (ev) {
      place(ev.latlng);
      input.value = ev.latlng.lng.toFixed(6) + "," + ev.latlng.lat.toFixed(6);
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
    input.addEventListener("change", function () {
      var p = parsePoint(input.value);
      if (p) { place(p); map.panTo(p); }
    });
  }

  function start() {
    var page = document.getElementById("map");
    if (page && page.hasAttribute("data-map")) { mapPage(page); }
    Array.prototype.forEach.call(document.querySelectorAll(".geo-picker[data-for]"), picker);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
