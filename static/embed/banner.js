/* The donation banner that news sites embed with one script tag. Written to be read, in ES5 (the
   minifier's dialect): banner/assets.py serves it minified, and tests/test_embed.py keeps the served
   bytes under 3 kB gzipped. */
(function (window, document) {
  var script = document.currentScript;
  // The service's own origin, from our src: article pages live on other origins.
  var service = script ? script.src.replace(/\/embed(\.\w+)?\.js.*$/, "") : "";
  var DAY = 864e5, now = Date.now(), location = window.location, storage, queue = [];
  try { storage = window.localStorage; } catch (error) {} // blocked storage must not break the page

  // Per-reader state lives in this browser only, under one prefix.
  function recall(key) {
    try { return JSON.parse(storage.getItem("dbn:" + key)); } catch (error) { return null; }
  }
  function remember(key, value) {
    try { storage.setItem("dbn:" + key, JSON.stringify(value)); } catch (error) {}
  }
  function element(tag, className, text, parent) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text; // staff copy is text, never HTML
    if (parent) parent.appendChild(node);
    return node;
  }
  function setAttribute(node, name, value) {
    node.setAttribute(name, value);
  }
  // FNV-1a: a reader keeps the same variant on every page without any cookie.
  function hashOf(text) {
    for (var hash = 2166136261, i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
    return hash >>> 0;
  }

  var STYLES = ":host{all:initial;display:block}" +
    ".bar{box-sizing:border-box;position:relative;display:flex;flex-wrap:wrap;gap:.5rem 1.2rem;align-items:center;" +
    "padding:.8rem 6rem .8rem 1.2rem;font:15px/1.4 system-ui,sans-serif;color:#1d1d1f;background:#fff8e6;" +
    "border-top:3px solid #0b5cad}.fixed{position:fixed;left:0;right:0;bottom:0;z-index:2147483000}" +
    ".top{top:0;bottom:auto}.dark{color:#fff;background:#1d2733;border-color:#ffd166}" +
    ".text{flex:1 1 18rem;margin:0}.text b{display:block}.goal{flex:1 1 12rem;font-size:.85em}" +
    ".meter{height:.5rem;background:#d5d5db}.meter i{display:block;height:100%;background:#0b5cad}" +
    ".ways{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}" +
    ".ways a{padding:.45rem .8rem;border-radius:6px;background:#0b5cad;color:#fff;font-weight:700;" +
    "text-decoration:none;white-space:nowrap}.dark .ways a,.dark .meter i{background:#ffd166;color:#1d1d1f}" +
    "label{display:flex;gap:.3rem}button{position:absolute;top:.15rem;right:.3rem;width:2.6rem;height:2.2rem;" +
    "border:0;background:none;color:inherit;font-size:1.4rem}.toggle{right:3rem}" +
    ".slim{padding-block:.45rem}.slim .goal,.slim .ways{display:none}" +
    // In the slim bar and on a phone, the copy takes one line.
    ".slim .text{overflow:hidden;white-space:nowrap;text-overflow:ellipsis}.slim .text b{display:inline;margin-right:.4em}" +
    ":focus-visible{outline:3px solid #0b5cad;outline-offset:-3px}.dark :focus-visible{outline-color:#ffd166}" +
    // On a phone: one line of copy, the goal as the top edge, one row of ways to give.
    "@media (max-width:40em){.bar{padding:.4rem .5rem;gap:.3rem}.text{margin-right:5.4rem;overflow:hidden;" +
    "white-space:nowrap;text-overflow:ellipsis}.text b{display:inline;margin-right:.4em}" +
    ".goal{position:absolute;top:-3px;left:0;right:0}.goal div+div{display:none}.meter{height:3px}" +
    ".ways{flex-wrap:nowrap;overflow-x:auto;max-width:100%;gap:.25rem;padding:2px}.ways a{padding:.3rem .4rem}}" +
    "@media (prefers-reduced-motion:no-preference){.bar{animation:fade .3s}}@keyframes fade{from{opacity:0}}";

  function send() {
    // The reader's anonymous id lets the service cap each reader's events (it names no one).
    if (queue.length && navigator.sendBeacon) {
      navigator.sendBeacon(service + "/api/events", JSON.stringify({ events: queue, reader: recall("id") }));
    }
    queue = [];
  }
  function track(data, variant, type) {
    if (data.preview) return; // staff previews count nothing
    queue.push({ type: type, campaign: data.campaign, variant: variant.key });
    type == "impression" ? setTimeout(send, 2000) : send(); // impressions wait to share one beacon
  }
  document.addEventListener("visibilitychange", function () { document.visibilityState == "hidden" && send(); });

  // Build detached, then add in one step: a bad answer leaves nothing behind.
  function render(data, variant, slot) {
    var host = element("div"), links = [], atTop = data.placement == "top";
    var root = host.attachShadow({ mode: "open" }), sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES); // a constructed sheet: no inline style for the host's CSP to block
    root.adoptedStyleSheets = [sheet];
    var bar = element("section", "bar" + (variant.theme == "dark" ? " dark" : "") + (slot ? "" : atTop ? " fixed top" : " fixed"), 0, root);
    var text = element("p", "text", 0, bar);
    setAttribute(bar, "aria-label", "Support our journalism");
    element("b", 0, variant.heading, text);
    element("span", 0, variant.body, text);
    if (data.goal) {
      var goal = element("div", "goal", 0, bar), meter = element("div", "meter", 0, goal);
      element("i", 0, 0, meter).style.width = Math.min(100, data.goal.percent) + "%";
      setAttribute(meter, "role", "img");
      setAttribute(meter, "aria-label", data.goal.percent + "% of the goal");
      element("div", 0, data.goal.text, goal);
    }
    var ways = element("div", "ways", 0, bar), label = element("label", 0, 0, ways), monthly = element("input", 0, 0, label);
    monthly.type = "checkbox";
    label.append("Monthly");
    function donateUrl(amount, frequency) {
      var query = { campaign: data.campaign, variant: variant.key, amount: amount,
        frequency: frequency || (monthly.checked ? "month" : "once"), from: location.href.split("#")[0], ref: document.referrer };
      return data.donateUrl + "?" + new URLSearchParams(query);
    }
    function addLink(amount, caption, frequency) {
      var link = element("a", 0, caption, ways);
      link.update = function () { link.href = donateUrl(amount, frequency); };
      link.update();
      link.addEventListener("click", function () { track(data, variant, "click"); });
      links.push(link);
    }
    variant.amounts.forEach(function (amount) { addLink(amount[0], amount[1]); });
    addLink("", variant.button, variant.buttonFrequency); // "Give monthly" asks for monthly whatever the box says
    monthly.addEventListener("change", function () { links.forEach(function (link) { link.update(); }); });

    var toggle = element("button", "toggle", 0, bar), close = element("button", 0, "×", bar);
    toggle.type = close.type = "button";
    setAttribute(toggle, "aria-label", "Ways to give");
    setAttribute(close, "aria-label", "Close");
    function collapse(slim) {
      bar.classList.toggle("slim", slim);
      setAttribute(toggle, "aria-expanded", !slim);
      toggle.textContent = slim == atTop ? "▾" : "▴";
    }
    collapse(!!recall("collapsed") && !data.preview);
    toggle.addEventListener("click", function () {
      var slim = !bar.classList.contains("slim");
      collapse(slim);
      data.preview || remember("collapsed", slim);
    });
    close.addEventListener("click", function () {
      data.preview || remember("closed:" + data.campaign, Date.now());
      track(data, variant, "dismiss");
      host.remove();
    });
    if (!slot) {
      // The host stays in the page's flow, as tall as the bar, so the end of the page can scroll clear of it.
      new ResizeObserver(function () {
        host.style.height = atTop ? 0 : bar.offsetHeight + "px";
      }).observe(bar);
      document.addEventListener("focusin", function (event) {
        var target = event.target;
        if (target == host || !host.isConnected) return;
        window.scrollBy(0, overlap(target));
        if (overlap(target)) collapse(true); // could not scroll it clear: make the bar slim
      });
    }
    // How far the page must scroll for the bar to stop covering `target` (0 when it does not).
    function overlap(target) {
      var covers = bar.getBoundingClientRect(), focused = target.getBoundingClientRect();
      if (focused.bottom <= covers.top || focused.top >= covers.bottom) return 0;
      // never so far that its other edge leaves the screen
      return atTop ? Math.max(focused.top - covers.bottom, focused.bottom - innerHeight) : Math.min(focused.bottom - covers.top, focused.top);
    }
    (slot || document.body).append(host);
    track(data, variant, "impression");
    if (!data.preview) {
      var timer, seen = new IntersectionObserver(function (entries) {
        clearTimeout(timer);
        if (entries[0].isIntersecting) timer = setTimeout(function () { seen.disconnect(); track(data, variant, "view"); }, 1000);
      }, { threshold: 0.5 });
      seen.observe(bar);
    }
    return host;
  }

  function show(data) {
    var variants = data && data.variants, total = 0, readerId = recall("id"), pick, i;
    if (!variants || !variants.length) return;
    if (!data.preview) {
      var closed = recall("closed:" + data.campaign), today = new Date().toDateString(), shown = recall("seen") || {};
      if (closed && now - closed < data.dismissDays * DAY) return;
      if (shown.day != today) shown = { day: today };
      if (data.cap && (shown[data.campaign] || 0) >= data.cap) return; // the campaign's daily cap per reader
      shown[data.campaign] = (shown[data.campaign] || 0) + 1;
      remember("seen", shown);
    }
    if (!readerId) remember("id", readerId = now.toString(36) + Math.random().toString(36).slice(2));
    variants.forEach(function (variant) { total += variant.weight; });
    pick = hashOf(readerId + ":" + data.campaign) % (total || 1);
    for (i = 0; i < variants.length - 1 && (pick -= variants[i].weight) >= 0; i++); // by weight
    render(data, variants[i], document.querySelector("[data-donation-banner]"));
  }

  window.DonationBanner = {
    preview: function (data, slot) { data.preview = 1; return render(data, data.variants[0], slot); }
  };
  if (!service) return;
  // Back from giving or cancelling: #banner-gave-<days> makes a current donor for that long (0: a former one).
  var marker = /^#banner-gave-(\d+)$/.exec(location.hash), donor = recall("donor");
  if (marker) {
    remember("donor", donor = now + marker[1] * DAY); // when they stop being current
    history.replaceState(null, "", location.pathname + location.search);
  }
  var preview = new URLSearchParams(location.search).get("banner_preview"), campaign = script.getAttribute("data-campaign");
  var timeout = AbortSignal.timeout, query = { path: location.pathname, ref: document.referrer };
  if (campaign) query.campaign = campaign; // else the service picks the live campaign for this page
  if (preview) query.preview = preview;
  if (now < donor && !preview) return; // a current donor is shown nothing and asks for nothing
  if (donor != null) query.donor = "former";
  // data-source: the answers `banner publish` put on a CDN, one file per campaign and "_live" for
  // the rest, each with a ".former" twin for former donors.
  var source = !preview && script.getAttribute("data-source");
  fetch(source ? source + "/" + (campaign || "_live") + (query.donor ? ".former" : "") + ".json" : service + "/api/banner?" + new URLSearchParams(query), { signal: timeout && timeout(2000) })
    .then(function (response) { return response.ok && response.json(); }) // 204 or 404: nothing to show
    .then(function (data) {
      document.body ? show(data) : document.addEventListener("DOMContentLoaded", function () { show(data); });
    })
    .catch(function () {});
})(window, document);
