/* The variant editor's live preview: the banner as readers will see it, redrawn as staff type. */
(function (w, d) {
  "use strict";

  function start() {
    var slot = d.getElementById("banner-preview"), form = d.getElementById("variant-form"), host = null;
    if (!slot || !form || !w.DonationBanner) return;
    var campaign = JSON.parse(slot.dataset.payload), fallback = JSON.parse(slot.dataset.presets),
      symbol = slot.dataset.symbol, code = slot.dataset.currency, digits = Number(slot.dataset.digits),
      unit = Math.pow(10, digits);

    function field(name) {
      return form.elements[name] ? form.elements[name].value.trim() : "";
    }

    // [major, label] as banner.money's major_units and format_amount write them; null if not an amount.
    function amount(text) {
      var cleaned = text.trim().split(symbol || "$").join("").trim(), minor;
      if (!/^\d+(\.\d+)?$/.test(cleaned) || (cleaned.split(".")[1] || "").length > digits) return null;
      minor = Math.round(Number(cleaned) * unit);
      if (minor <= 0) return null;
      var whole = minor % unit === 0, fraction = whole ? 0 : digits,
        shown = (minor / unit).toLocaleString("en-US", { minimumFractionDigits: fraction, maximumFractionDigits: fraction });
      return [whole ? String(minor / unit) : (minor / unit).toFixed(digits), symbol ? symbol + shown : shown + " " + code.toUpperCase()];
    }

    function amounts() {
      var typed = field("preset_amounts").split(",").map(amount).filter(Boolean);
      return typed.length ? typed : fallback.map(amount).filter(Boolean);
    }

    function render() {
      var data = Object.assign({}, campaign, {
        variants: [{
          key: field("key") || "preview",
          heading: field("heading"),
          body: field("body"),
          button: field("button_text"),
          theme: field("theme"),
          weight: Number(field("weight")) || 0,
          audience: "all",
          amounts: amounts()
        }]
      });
      if (host) host.remove();
      host = w.DonationBanner.preview(data, slot);
    }

    form.addEventListener("input", render);
    form.addEventListener("change", render);
    render();
  }

  d.readyState === "loading" ? d.addEventListener("DOMContentLoaded", start) : start();
})(window, document);
