/* siting HTML report: builds the table, the details and (for map input) the map from the
   JSON in #siting-data / #siting-geometry. Every text goes in through textContent. */
(function () {
  "use strict";

  var D = JSON.parse(document.getElementById("siting-data").textContent);
  var S = D.strings;
  var C = D.columns;
  var N = C.id.length;
  var STATUS = {};
  var RANK = {};
  D.statuses.forEach(function (s, k) {
    STATUS[s.id] = s;
    RANK[s.id] = k;
  });
  var collator = new Intl.Collator(D.lang === "zh" ? "zh-CN" : "en", { numeric: true });
  var VIRTUAL = N > D.tableLimit;

  // ------------------------------------------------------------------ helpers
  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(values, k) ? String(values[k]) : m;
    });
  }
  function val(name, i) {
    var c = C[name];
    if (c == null) return null;
    if (Array.isArray(c)) return c[i];
    var k = c.codes[i];
    return k < 0 ? null : c.labels[k];
  }
  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v == null) return;
        if (k === "text") e.textContent = v;
        else if (k === "class") e.className = v;
        else e.setAttribute(k, v);
      });
    }
    (children || []).forEach(function (c) {
      if (c == null) return;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return e;
  }
  var numbers = new Intl.NumberFormat(D.lang === "zh" ? "zh-CN" : "en");
  function num(v) {
    return v == null ? "" : numbers.format(v);
  }
  function badge(status) {
    var s = STATUS[status];
    if (!s) return h("span", { text: status || "" });
    return h("span", { class: "badge", style: "background:" + s.color, text: s.label });
  }
  function notesOf(i) {
    var t = val("notes", i);
    return t ? t.split(" | ") : [];
  }
  function foundBy(i) {
    if (!C.source) return null;
    var src = val("source", i);
    return src ? S["source_" + src] || src : null;
  }
  function confidenceOf(i) {
    if (!C.confidence) return null;
    var c = val("confidence", i);
    return c ? S["confidence_" + c] || c : null;
  }

  // ------------------------------------------------------------------ one site's details
  function detail(i) {
    var id = C.id[i];
    var status = val("status", i);
    var rows = [];
    function row(label, value) {
      if (value == null || value === "") return;
      rows.push(h("dt", { text: label }));
      rows.push(h("dd", null, [value]));
    }
    row(S.status, h("span", null, [badge(status), " ", h("code", { text: status })]));
    row(S.category, val("category", i) || S.none);
    if (C.source) {
      var how = foundBy(i);
      if (how) {
        var parts = [how];
        var via = val("matched_by", i);
        if (via) parts.push(via);
        var ctx = val("context_name", i);
        var layer = val("context_layer", i);
        if (ctx || layer) parts.push(S.context_feature + ": " + (ctx || "") + (layer ? " (" + layer + ")" : ""));
        if (C.distance[i] != null && val("source", i) === "nearest") parts.push(S.distance + " " + C.distance[i] + " m");
        if (C.overlap[i] != null && C.overlap[i] > 0) parts.push(S.overlap + " " + num(C.overlap[i]) + " m²");
        row(S.found_by, parts.join("; "));
      }
      var conf = confidenceOf(i);
      if (conf) row(S.confidence, conf + (val("confidence_reason", i) ? " - " + val("confidence_reason", i) : ""));
      if (C.estimated[i] != null) row(S.basis, fmt(S.estimated, { m2: C.estimated[i] }));
    }
    if (C.city) row(S.col_city, val("city", i));
    if (C.basis[i] != null) row(S.basis, num(C.basis[i]) + (val("ratio", i) ? " × " + val("ratio", i) : ""));
    row(S.required, C.required[i] == null ? null : num(C.required[i]));
    row(S.provided, C.provided[i] == null ? null : num(C.provided[i]));
    row(S.shortfall, C.shortfall[i] == null ? null : num(C.shortfall[i]));
    row(S.counted, val("counted", i));
    row(S.explanation, val("explanation", i));
    var ruleId = val("rule", i);
    var rule = ruleId ? D.rules[ruleId] : null;
    if (ruleId) row(S.rule, ruleId + (rule ? " (" + (S["strength_" + rule.strength] || rule.strength) + ")" : ""));
    if (rule) {
      var clause = h("div", null, [rule.clause ? h("blockquote", { text: rule.clause }) : null]);
      if (D.lang !== "zh" && rule.summary) clause.appendChild(h("p", { text: rule.summary }));
      row(S.clause, clause);
      row(S.citation, [rule.document, rule.section].filter(Boolean).join(" "));
    }
    var notes = notesOf(i);
    if (notes.length) row(S.notes, h("ul", null, notes.map(function (t) { return h("li", { text: t }); })));
    row(S.evaluations, val("evaluations", i));
    var title = [id];
    if (val("name", i)) title.push(" ", val("name", i));
    return h("div", { class: "site-detail", "data-popup-for": id, "data-status": status }, [
      h("h3", null, title),
      h("dl", null, rows),
    ]);
  }

  // ------------------------------------------------------------------ table
  var COLS = [{ key: "id", label: S.col_id, text: function (i) { return C.id[i]; }, cmp: "text" }];
  if (C.name) COLS.push({ key: "name", label: S.col_name, text: function (i) { return val("name", i) || ""; }, cmp: "text" });
  COLS.push({ key: "status", label: S.col_status, cmp: "status" });
  COLS.push({ key: "category", label: S.col_category, text: function (i) { return val("category", i) || ""; }, cmp: "coded" });
  if (C.source) {
    COLS.push({ key: "source", label: S.col_found, text: function (i) { return foundBy(i) || ""; }, cmp: "coded" });
    COLS.push({ key: "confidence", label: S.col_confidence, text: function (i) { return confidenceOf(i) || ""; }, cmp: "coded" });
  }
  if (C.city) COLS.push({ key: "city", label: S.col_city, text: function (i) { return val("city", i) || ""; }, cmp: "coded" });
  ["required", "provided", "shortfall"].forEach(function (k) {
    COLS.push({ key: k, label: S["col_" + k], text: function (i) { return num(C[k][i]); }, cmp: "number", num: true });
  });
  COLS.push({ key: "rule", label: S.col_rule, text: function (i) { return val("rule", i) || ""; }, cmp: "coded" });
  COLS.push({ key: "explanation", label: S.col_explanation, text: function (i) { return val("explanation", i) || ""; }, cmp: "text", cls: "expl" });
  COLS.push({ key: "notes", label: S.col_notes, text: function (i) { return notesOf(i).join("; "); }, cmp: "text", cls: "notes" });

  var table = document.getElementById("sites");
  var thead = table.tHead;
  var tbody = table.tBodies[0];
  var wrap = document.getElementById("sites-wrap");
  if (VIRTUAL) table.classList.add("virtual");
  var sort = { key: null, dir: 1 };
  var view = [];
  var selected = -1;

  function codedRank(name) {
    var labels = C[name].labels;
    var order = labels.map(function (_, k) { return k; });
    order.sort(function (a, b) { return collator.compare(labels[a], labels[b]); });
    var rank = new Array(labels.length);
    order.forEach(function (k, r) { rank[k] = r; });
    return rank;
  }
  function comparator(col) {
    if (col.cmp === "number") {
      var arr = C[col.key];
      return function (a, b) {
        var x = arr[a], y = arr[b];
        if (x == null) return y == null ? 0 : 1;
        if (y == null) return -1;
        return (x - y) * sort.dir;
      };
    }
    if (col.cmp === "status") {
      var st = C.status;
      var srank = st.labels.map(function (s) { return RANK[s]; });
      return function (a, b) { return (srank[st.codes[a]] - srank[st.codes[b]]) * sort.dir; };
    }
    if (col.cmp === "coded") {
      var c = C[col.key];
      var rank = codedRank(col.key);
      return function (a, b) {
        var x = c.codes[a], y = c.codes[b];
        if (x < 0) return y < 0 ? 0 : 1;
        if (y < 0) return -1;
        return (rank[x] - rank[y]) * sort.dir;
      };
    }
    var keys = new Array(N);
    for (var i = 0; i < N; i++) keys[i] = col.text(i);
    return function (a, b) {
      if (!keys[a]) return keys[b] ? 1 : 0;
      if (!keys[b]) return -1;
      return collator.compare(keys[a], keys[b]) * sort.dir;
    };
  }

  function header() {
    var tr = h("tr");
    COLS.forEach(function (col) {
      var th = h("th", { scope: "col", class: col.num ? "num" : null, "data-col": col.key });
      if (sort.key === col.key) th.setAttribute("aria-sort", sort.dir > 0 ? "ascending" : "descending");
      var b = h("button", { type: "button", text: col.label });
      b.addEventListener("click", function () {
        sort.dir = sort.key === col.key ? -sort.dir : 1;
        sort.key = col.key;
        header();
        refresh();
      });
      th.appendChild(b);
      tr.appendChild(th);
    });
    thead.textContent = "";
    thead.appendChild(tr);
  }

  function rowOf(i) {
    var status = val("status", i);
    var tr = h("tr", { "data-site-id": C.id[i], "data-status": status, tabindex: "0" });
    tr._site = i;
    if (i === selected) tr.className = "selected";
    COLS.forEach(function (col) {
      var td;
      if (col.key === "status") td = h("td", { title: status }, [badge(status)]);
      else {
        var t = col.text(i);
        td = h("td", { class: (col.num ? "num " : "") + (col.cls || ""), text: t });
        if (t && (VIRTUAL || col.cls)) td.title = t;
      }
      tr.appendChild(td);
    });
    return tr;
  }

  var ROW_H = 28; // measured from the first row drawn (virtual mode)
  var measured = false;
  function renderRows() {
    var frag = document.createDocumentFragment();
    if (!VIRTUAL) {
      view.forEach(function (i) { frag.appendChild(rowOf(i)); });
      tbody.replaceChildren(frag);
      return;
    }
    // measure before the rows are replaced (an empty body would clamp the scroll position)
    var top = Math.max(0, wrap.scrollTop - thead.offsetHeight);
    var first = Math.max(0, Math.floor(top / ROW_H) - 20);
    var count = Math.ceil((wrap.clientHeight || 600) / ROW_H) + 40;
    var last = Math.min(view.length, first + count);
    var span = COLS.length;
    frag.appendChild(h("tr", { class: "spacer" }, [h("td", { colspan: span, style: "height:" + first * ROW_H + "px" })]));
    for (var k = first; k < last; k++) frag.appendChild(rowOf(view[k]));
    frag.appendChild(
      h("tr", { class: "spacer" }, [h("td", { colspan: span, style: "height:" + (view.length - last) * ROW_H + "px" })])
    );
    tbody.replaceChildren(frag);
    if (!measured && last > first) {
      measured = true;
      var real = tbody.rows[1].getBoundingClientRect().height;
      if (real > 0 && Math.abs(real - ROW_H) > 0.01) {
        ROW_H = real;
        renderRows();
      }
    }
  }
  if (VIRTUAL) {
    var pending = false;
    wrap.addEventListener("scroll", function () {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        renderRows();
      });
    });
  }

  // filters
  var fStatus = document.getElementById("sites-filter");
  var fCat = document.getElementById("sites-filter-category");
  var fCity = document.getElementById("sites-filter-city");
  var fSearch = document.getElementById("sites-search");
  function fillSelect(select, options) {
    select.appendChild(h("option", { value: "", text: S.all }));
    options.forEach(function (o) { select.appendChild(h("option", { value: o[0], text: o[1] })); });
  }
  function countsOf(name) {
    var n = new Array(C[name].labels.length).fill(0);
    C[name].codes.forEach(function (k) { if (k >= 0) n[k]++; });
    return n;
  }
  fillSelect(
    fStatus,
    D.statuses.map(function (s) { return [s.id, s.label + " (" + s.id + ") " + num(s.count)]; })
  );
  function codedOptions(name) {
    var n = countsOf(name);
    var opts = C[name].labels.map(function (l, k) { return [String(k), l + " " + num(n[k])]; });
    opts.sort(function (a, b) { return collator.compare(a[1], b[1]); });
    return opts;
  }
  fillSelect(fCat, codedOptions("category"));
  if (fCity && C.city) fillSelect(fCity, codedOptions("city"));

  function matches() {
    var want = fStatus.value;
    var wantCode = want ? C.status.labels.indexOf(want) : null;
    var cat = fCat.value === "" ? null : Number(fCat.value);
    var city = fCity && fCity.value !== "" ? Number(fCity.value) : null;
    var q = fSearch.value.trim().toLowerCase();
    var out = new Uint8Array(N);
    for (var i = 0; i < N; i++) {
      if (wantCode !== null && C.status.codes[i] !== wantCode) continue;
      if (cat !== null && C.category.codes[i] !== cat) continue;
      if (city !== null && C.city.codes[i] !== city) continue;
      if (q) {
        var id = (C.id[i] || "").toLowerCase();
        var name = C.name ? (val("name", i) || "").toLowerCase() : "";
        if (id.indexOf(q) < 0 && name.indexOf(q) < 0) continue;
      }
      out[i] = 1;
    }
    return out;
  }

  var shown = null;
  function refresh() {
    shown = matches();
    view = [];
    for (var i = 0; i < N; i++) if (shown[i]) view.push(i);
    if (sort.key) {
      var col = COLS.filter(function (c) { return c.key === sort.key; })[0];
      var cmp = comparator(col);
      view.sort(function (a, b) { return cmp(a, b) || a - b; });
    }
    document.getElementById("sites-count").textContent = fmt(S.showing, { n: num(view.length), total: num(N) });
    if (VIRTUAL) wrap.scrollTop = 0;
    renderRows();
    if (MAP) MAP.filter(shown);
  }
  [fStatus, fCat, fCity].forEach(function (s) { if (s) s.addEventListener("change", refresh); });
  var typing = null;
  fSearch.addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(refresh, 150);
  });

  function showDetail(i) {
    var panel = document.getElementById("site-detail");
    panel.textContent = "";
    panel.appendChild(detail(i));
    if (MAP && MAP.has(i)) {
      var b = h("button", { type: "button", text: S.zoom_to });
      b.addEventListener("click", function () {
        document.getElementById("map").scrollIntoView({ block: "center" });
        MAP.zoomTo(i);
      });
      panel.appendChild(b);
    }
  }
  function select(i, fromMap) {
    selected = i;
    Array.prototype.forEach.call(tbody.querySelectorAll("tr.selected"), function (r) { r.classList.remove("selected"); });
    Array.prototype.forEach.call(tbody.querySelectorAll("tr[data-site-id]"), function (r) {
      if (r.getAttribute("data-site-id") === C.id[i]) r.classList.add("selected");
    });
    showDetail(i);
    if (MAP && !fromMap) MAP.zoomTo(i);
  }
  function rowEvent(ev) {
    var tr = ev.target.closest("tr[data-site-id]");
    if (!tr) return;
    if (tr._site != null) select(tr._site, false);
  }
  tbody.addEventListener("click", rowEvent);
  tbody.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      rowEvent(ev);
    }
  });

  // ------------------------------------------------------------------ map
  var MAP = null;
  if (D.map && window.L) MAP = buildMap();

  function buildMap() {
    var GEOM = JSON.parse(document.getElementById("siting-geometry").textContent);
    var G = GEOM.lots;
    var M = D.map;
    var count = G.filter(function (g) { return g; }).length;
    var canvas = count > M.elementLimit;
    var notes = [];
    if (M.missing) notes.push(fmt(S.no_geometry, { n: num(M.missing) }));
    if (canvas) notes.push(fmt(S.canvas_note, { limit: num(M.elementLimit) }));
    M.contexts.forEach(function (c) {
      if (c.total > c.limit) notes.push(fmt(S.context_capped, { name: c.name, limit: num(c.limit), total: num(c.total) }));
    });
    document.getElementById("map-notes").textContent = notes.join(". ");

    var map = L.map("map", { zoomControl: true, preferCanvas: canvas });
    map.attributionControl.setPrefix("Leaflet");
    map.createPane("context");
    map.getPane("context").style.zIndex = 350;
    var ctxRenderer = L.canvas({ pane: "context" });
    var lotRenderer = canvas ? L.canvas({ padding: 0.3 }) : L.svg();

    function toLayer(f, options, radius) {
      if (f[0] === "GeometryCollection") {
        return L.featureGroup(f[1].map(function (p) { return toLayer(p, options, radius); }));
      }
      var opts = Object.assign({}, options, {
        pointToLayer: function (_, ll) { return L.circleMarker(ll, Object.assign({ radius: radius }, options)); },
      });
      return L.GeoJSON.geometryToLayer({ type: f[0], coordinates: f[1] }, opts);
    }
    function styleOf(status, dim) {
      var color = STATUS[status] ? STATUS[status].color : "#555";
      return { color: color, weight: 2, opacity: dim ? 0.25 : 1, fillColor: color, fillOpacity: dim ? 0.08 : 0.55 };
    }
    function eachPath(layer, fn) {
      if (layer.eachLayer) layer.eachLayer(function (l) { eachPath(l, fn); });
      else fn(layer);
    }

    var base = {};
    if (M.basemap) {
      var tiles = L.tileLayer(M.basemap, { maxZoom: 19 });
      tiles.addTo(map);
      base[S.basemap] = tiles;
    }
    var overlays = {};
    var bounds = L.latLngBounds([]);
    var ctxGroups = M.contexts.map(function (c, n) {
      var g = L.featureGroup();
      GEOM.contexts[n].forEach(function (f, k) {
        if (!f) return;
        var lyr = toLayer(f, { renderer: ctxRenderer, color: "#607d8b", weight: 1, fillColor: "#90a4ae", fillOpacity: 0.18, pane: "context" }, 4);
        if (c.labels[k]) lyr.bindTooltip(c.labels[k], { sticky: true });
        g.addLayer(lyr);
      });
      overlays[S.context_layers + ": " + c.name] = g;
      return g;
    });
    var lots = new Array(N);
    var group = L.featureGroup();
    for (var i = 0; i < N; i++) {
      var f = G[i];
      if (!f) continue;
      var status = val("status", i);
      var opts = styleOf(status, false);
      opts.renderer = lotRenderer;
      var lyr = toLayer(f, opts, 7);
      lyr._site = i;
      eachPath(lyr, function (p) { p._site = lyr._site; });
      lots[i] = lyr;
      group.addLayer(lyr);
    }
    // a lot's popup is bound when first asked for (cheap for many lots)
    function openFor(i, latlng) {
      var l = lots[i];
      if (!l.getPopup()) {
        l.bindPopup(function () { return detail(i); }, { maxWidth: 460, autoPanPadding: [20, 20] });
        l.on("popupopen", function () { select(i, true); });
      }
      l.openPopup(latlng);
    }
    group.on("click", function (e) {
      var i = e.layer && e.layer._site;
      if (i == null || lots[i].getPopup()) return; // bound already: its own handler opens it
      openFor(i, e.latlng);
    });
    if (count) bounds.extend(group.getBounds());
    ctxGroups.forEach(function (g) { if (!count && g.getLayers().length) bounds.extend(g.getBounds()); });
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 17 });
    else map.setView([0, 0], 2);
    ctxGroups.forEach(function (g) { g.addTo(map); });
    group.addTo(map);
    overlays[S.lots] = group;
    L.control.layers(base, overlays, { collapsed: false }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);

    // stable hooks: one element per lot (SVG renderer) with its id and status
    for (var j = 0; j < N; j++) {
      if (!lots[j]) continue;
      (function (j) {
        eachPath(lots[j], function (p) {
          var el = p.getElement && p.getElement();
          if (!el) return;
          el.setAttribute("data-site-id", C.id[j]);
          el.setAttribute("data-status", val("status", j));
          el.setAttribute("tabindex", "0");
          el.setAttribute("role", "button");
          el.setAttribute("aria-label", C.id[j] + " " + STATUS[val("status", j)].label);
          el.addEventListener("keydown", function (ev) {
            if (ev.key === "Enter") openFor(j);
          });
        });
      })(j);
    }

    var legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var div = h("div", { class: "legend", id: "map-legend" }, [h("h3", { text: S.legend })]);
      D.statuses.forEach(function (s) {
        div.appendChild(
          h("div", { "data-status": s.id }, [h("i", { style: "background:" + s.color }), s.label + " (" + num(s.count) + ")"])
        );
      });
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    legend.addTo(map);

    return {
      has: function (i) { return !!lots[i]; },
      zoomTo: function (i) {
        var l = lots[i];
        if (!l) return;
        var b = l.getBounds ? l.getBounds() : L.latLngBounds([l.getLatLng()]);
        map.fitBounds(b, { maxZoom: 17, padding: [40, 40], animate: false });
        openFor(i, b.getCenter());
      },
      filter: function (mask) {
        for (var i = 0; i < N; i++) {
          if (!lots[i]) continue;
          var dim = !mask[i];
          if (lots[i]._dim === dim) continue;
          lots[i]._dim = dim;
          lots[i].setStyle(styleOf(val("status", i), dim));
        }
      },
    };
  }

  header();
  refresh();
  document.documentElement.setAttribute("data-ready", "1");
})();
