/* The donation banner, served as written; tests/test_embed.py keeps it under 3 kB gzipped. */
(function (w, d) {
  var me = d.currentScript, base = me ? me.src.replace(/\/embed(\.\w+)?\.js.*$/, "") : "";
  var DAY = 864e5, now = Date.now(), loc = w.location, store, queue = [];
  try { store = w.localStorage; } catch (e) {}
  function get(k) { try { return JSON.parse(store.getItem("dbn:" + k)); } catch (e) { return null; } }
  function put(k, v) { try { store.setItem("dbn:" + k, JSON.stringify(v)); } catch (e) {} }
  function el(tag, cls, text, parent) {
    var n = d.createElement(tag);
    if (cls) n.className = cls;
    if (text) n.textContent = text; // staff copy is text, never HTML
    if (parent) parent.appendChild(n);
    return n;
  }
  function attr(n, k, v) { n.setAttribute(k, v); }
  function hash(s) { // FNV-1a
    for (var h = 2166136261, i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    return h >>> 0;
  }
  var CSS = ":host{all:initial}.b{box-sizing:border-box;position:relative;display:flex;flex-wrap:wrap;" +
    "gap:.5rem 1.2rem;align-items:center;padding:.8rem 3rem .8rem 1.2rem;font:15px/1.4 system-ui,sans-serif;" +
    "color:#1d1d1f;background:#fff8e6;border-top:3px solid #0b5cad}" +
    ".k{color:#fff;background:#1d2733;border-color:#ffd166}.t{flex:1 1 18rem;margin:0}" +
    ".t b{display:block}.g{flex:1 1 12rem;font-size:.85em}.r{height:.5rem;background:#d5d5db}" +
    ".r i{display:block;height:100%;background:#0b5cad}.a{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}" +
    ".a a{padding:.45rem .8rem;border-radius:6px;background:#0b5cad;color:#fff;font-weight:700;text-decoration:none}" +
    ".k .a a,.k .r i{background:#ffd166;color:#1d1d1f}label{display:flex;gap:.3rem}" +
    ".x{position:absolute;top:.3rem;right:.4rem;border:0;background:none;color:inherit;font-size:1.5rem}" +
    ":focus-visible{outline:3px solid #0b5cad;outline-offset:2px}.k :focus-visible{outline-color:#ffd166}" +
    "@media (prefers-reduced-motion:no-preference){.b{animation:f .3s}}@keyframes f{from{opacity:0}}";

  function send() {
    if (queue.length && navigator.sendBeacon) navigator.sendBeacon(base + "/api/events", JSON.stringify({ events: queue }));
    queue = [];
  }
  function track(data, v, type) {
    if (data.preview) return;
    queue.push({ type: type, campaign: data.campaign, variant: v.key });
    type == "impression" ? setTimeout(send, 2000) : send();
  }
  d.addEventListener("visibilitychange", function () { d.visibilityState == "hidden" && send(); });

  // Build detached, then add in one step: a bad answer leaves nothing behind.
  function render(data, v, slot) {
    var host = el("div"), s = host.style, links = [];
    if (!slot) {
      s.position = "fixed"; s.left = s.right = "0"; s.zIndex = "2147483000";
      s[data.placement == "top" ? "top" : "bottom"] = "0";
    }
    var root = host.attachShadow({ mode: "open" }), sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS); // a constructed sheet: no inline style for the host's CSP to block
    root.adoptedStyleSheets = [sheet];
    var box = el("section", v.theme == "dark" ? "b k" : "b", 0, root), t = el("p", "t", 0, box);
    attr(box, "aria-label", "Support our journalism");
    el("b", 0, v.heading, t);
    el("span", 0, v.body, t);
    if (data.goal) {
      var g = el("div", "g", 0, box), bar = el("div", "r", 0, g);
      el("i", 0, 0, bar).style.width = Math.min(100, data.goal.percent) + "%";
      attr(bar, "role", "img");
      attr(bar, "aria-label", data.goal.percent + "% of the goal");
      el("div", 0, data.goal.text, g);
    }
    var a = el("div", "a", 0, box), label = el("label", 0, 0, a), monthly = el("input", 0, 0, label);
    monthly.type = "checkbox";
    label.append("Monthly");
    function href(amount) {
      var q = { campaign: data.campaign, variant: v.key, amount: amount, frequency: monthly.checked ? "month" : "once",
        from: loc.href.split("#")[0], ref: d.referrer };
      return data.donateUrl + "?" + new URLSearchParams(q);
    }
    function link(amount, text) {
      var l = el("a", 0, text, a);
      l.href = href(l.amount = amount);
      l.addEventListener("click", function () { track(data, v, "click"); });
      links.push(l);
    }
    v.amounts.forEach(function (x) { link(x[0], x[1]); });
    link("", v.button);
    monthly.addEventListener("change", function () {
      links.forEach(function (l) { l.href = href(l.amount); });
    });
    var x = el("button", "x", "×", box);
    x.type = "button";
    attr(x, "aria-label", "Close");
    x.addEventListener("click", function () {
      data.preview || put("closed:" + data.campaign, Date.now());
      track(data, v, "dismiss");
      host.remove();
    });
    (slot || d.body).append(host);
    track(data, v, "impression");
    if (!data.preview) {
      var timer, seen = new IntersectionObserver(function (e) {
        clearTimeout(timer);
        if (e[0].isIntersecting) timer = setTimeout(function () { seen.disconnect(); track(data, v, "view"); }, 1000);
      }, { threshold: 0.5 });
      seen.observe(box);
    }
    return host;
  }

  function show(data) {
    var vs = data && data.variants, total = 0, id = get("id"), pick, i;
    if (!vs || !vs.length) return;
    if (!data.preview) {
      var gave = get("gave"), closed = get("closed:" + data.campaign), day = new Date().toDateString(), seen = get("seen") || {};
      if (gave && now - gave < data.gaveDays * DAY || closed && now - closed < data.dismissDays * DAY) return;
      if (seen.day != day) seen = { day: day };
      if (data.cap && (seen[data.campaign] || 0) >= data.cap) return;
      seen[data.campaign] = (seen[data.campaign] || 0) + 1;
      put("seen", seen);
      var back = vs.filter(function (v) { return v.audience == "former"; });
      vs = get("former") && back.length ? back : vs.filter(function (v) { return v.audience == "all"; });
    }
    if (!id) put("id", id = now.toString(36) + Math.random().toString(36).slice(2));
    vs.forEach(function (v) { total += v.weight; });
    pick = hash(id + ":" + data.campaign) % (total || 1);
    for (i = 0; i < vs.length - 1 && (pick -= vs[i].weight) >= 0; i++);
    render(data, vs[i], d.querySelector("[data-donation-banner]"));
  }

  w.DonationBanner = { preview: function (data, slot) { data.preview = 1; return render(data, data.variants[0], slot); } };
  if (!base) return;
  var m = /^#banner-(gave|former)$/.exec(loc.hash); // back from giving or cancelling
  if (m) {
    put(m[1], now);
    history.replaceState(null, "", loc.pathname + loc.search);
  }
  var p = new URLSearchParams(loc.search).get("banner_preview"), c = me.getAttribute("data-campaign"), T = AbortSignal.timeout,
    q = { path: loc.pathname, ref: d.referrer };
  if (c) q.campaign = c;
  if (p) q.preview = p;
  fetch(base + "/api/banner?" + new URLSearchParams(q), { signal: T && T(2000) })
    .then(function (r) { return r.status == 200 ? r.json() : null; })
    .then(function (data) {
      d.body ? show(data) : d.addEventListener("DOMContentLoaded", function () { show(data); });
    })
    .catch(function () {});
})(window, document);
