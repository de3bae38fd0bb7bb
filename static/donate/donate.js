// The donate page: Stripe's Payment Element, mounted before any call to our server (the
// deferred-intent flow); one confirmation per gift, 3-D Secure included.
(function () {
  "use strict";
  var form = document.getElementById("donate-form");
  if (!form) return;

  var submit = document.getElementById("submit");
  var amount = form.elements.amount;
  var coverFees = form.elements.cover_fees;
  var formError = document.getElementById("form-error");
  var paymentError = document.getElementById("payment-error");
  var totalLine = document.getElementById("total");
  var feeAmount = document.getElementById("fee-amount");
  var currency = form.elements.currency.value;
  var busy = false;
  // What the server understood of the amount: {total (minor units), total_display, amount_display}.
  var quote = null;

  function frequency() {
    var checked = form.querySelector('input[name="frequency"]:checked');
    return checked ? checked.value : "once";
  }

  function mode() {
    return frequency() === "once" ? "payment" : "subscription";
  }

  var stripe = Stripe(form.dataset.publishableKey);
  var options = { mode: mode(), amount: 100, currency: currency };
  if (form.dataset.paymentMethods !== "automatic") {
    options.paymentMethodTypes = form.dataset.paymentMethods.split(",");
  }
  var elements = stripe.elements(options);
  elements.create("payment").mount("#payment-element");

  function show(el, message) {
    el.textContent = message || "";
    el.hidden = !message;
  }

  function clearErrors() {
    form.querySelectorAll("[data-error-for]").forEach(function (el) { show(el, ""); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.setAttribute("aria-invalid", "false"); });
    show(formError, ""); show(paymentError, "");
  }

  function showFieldErrors(fields) {
    var first = null;
    Object.keys(fields).forEach(function (name) {
      var el = form.querySelector('[data-error-for="' + name + '"]');
      var input = form.elements[name];
      if (el) show(el, fields[name].join(" "));
      else show(formError, fields[name].join(" "));
      if (input && input.setAttribute) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    });
    if (first && first.focus) first.focus();
  }

  // The button and the line above it say what will be charged, fee included, as the server read it.
  function label() {
    var words = { once: "", month: " monthly", year: " yearly" }[frequency()];
    submit.textContent = quote ? "Give " + quote.total_display + words : "Give";
    if (!quote) {
      show(totalLine, "");
    } else if (quote.fee && coverFees.checked) {
      show(totalLine, "You give " + quote.amount_display + " + " + quote.fee_display + " for card fees = " +
        quote.total_display + words + ".");
    } else {
      show(totalLine, "You give " + quote.total_display + words + ".");
    }
    elements.update({ mode: mode(), amount: quote ? quote.total : 100 });
  }

  var quoteTimer = null;
  var quoteSeq = 0;
  function requote() {
    clearTimeout(quoteTimer);
    var value = amount.value.trim();
    if (!value) { quote = null; feeAmount.textContent = "a little"; label(); return; }
    quoteTimer = setTimeout(function () {
      var seq = ++quoteSeq;
      var params = new URLSearchParams({ amount: value, currency: currency });
      fetch(form.dataset.feeUrl + "?" + params, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (result) {
          if (seq !== quoteSeq) return;  // an older answer after a newer question
          var body = result.body;
          if (!result.ok) {
            quote = null;
            var fields = body.error && body.error.fields;
            show(form.querySelector('[data-error-for="amount"]'), fields && fields.amount ? fields.amount.join(" ") : "");
          } else {
            show(form.querySelector('[data-error-for="amount"]'), "");
            feeAmount.textContent = body.fee_display;
            quote = {
              total: coverFees.checked ? body.total : body.total - body.fee,
              total_display: coverFees.checked ? body.total_display : body.amount_display,
              amount_display: body.amount_display,
              fee: body.fee,
              fee_display: body.fee_display,
            };
          }
          label();
        })
        .catch(function () {});
    }, 150);
  }

  // The amount chosen at first for each frequency (the variant's), and whether to call it popular.
  var defaults = JSON.parse(form.dataset.defaults || "{}");
  var shownDefault = defaults[frequency()];

  function highlightPreset() {
    form.querySelectorAll(".preset").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.amount === amount.value.trim()));
      b.querySelector(".popular").hidden = !(form.dataset.popular && b.dataset.amount === defaults[frequency()]);
    });
  }

  // A reader who has not chosen an amount yet gets the one chosen for the new frequency.
  function followDefault() {
    var value = amount.value.trim();
    if ((value === "" || value === shownDefault) && defaults[frequency()]) {
      amount.value = defaults[frequency()];
      requote();
    }
    shownDefault = defaults[frequency()];
    highlightPreset();
  }

  form.querySelectorAll(".preset").forEach(function (button) {
    button.addEventListener("click", function () {
      amount.value = button.dataset.amount;
      highlightPreset(); requote(); newAttempt();
    });
  });
  amount.addEventListener("input", function () { highlightPreset(); requote(); newAttempt(); });
  coverFees.addEventListener("change", function () { requote(); newAttempt(); });
  form.querySelectorAll('input[name="frequency"]').forEach(function (radio) {
    radio.addEventListener("change", function () { followDefault(); label(); newAttempt(); });
  });
  highlightPreset(); requote();

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: data,
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { ok: response.ok, body: body };
      });
    });
  }

  function failure(message, payment) {
    var error = new Error(message || "Something went wrong. Please try again.");
    error.payment = payment;
    return error;
  }

  // Ask our server what the confirmation did; it records the gift once however often it is asked.
  function complete(url) {
    var data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    return post(url, data).then(function (result) {
      var body = result.body;
      if (!result.ok) throw failure(body.error && body.error.message);
      if (body.status === "succeeded") {
        window.location.assign(body.thanks_url);
        return "done";
      }
      if (body.status === "processing") {
        return new Promise(function (resolve) { setTimeout(resolve, 1000); })
          .then(function () { return complete(url); });
      }
      throw failure(body.message || "Your payment was declined.", true);
    });
  }

  function newAttempt() {
    // A new submission id: the next try is a new gift, never a repeat of an earlier one.
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    form.elements.checkout_key.value = Array.from(bytes, function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  function done() {
    busy = false; submit.disabled = false; submit.removeAttribute("aria-busy");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    busy = true;
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    clearErrors();
    elements.submit()
      .then(function (checked) {
        // Incomplete payment details: nothing was sent anywhere; fix and send again.
        if (checked.error) throw failure(checked.error.message, true);
        return post(form.action, new FormData(form));
      })
      .then(function (result) {
        var body = result.body;
        if (!result.ok) {
          if (body.error && body.error.fields) { showFieldErrors(body.error.fields); return "retry"; }
          if (body.error && body.error.code === "challenge_required" && !document.querySelector(".cf-turnstile")) {
            window.location.reload();  // the page comes back with the challenge on it
            return "done";
          }
          throw failure(body.error && body.error.message);
        }
        if (body.status === "succeeded") { window.location.assign(body.thanks_url); return "done"; }
        return stripe.confirmPayment({
          elements: elements,
          clientSecret: body.client_secret,
          confirmParams: {
            return_url: body.return_url,
            payment_method_data: {
              billing_details: { name: form.elements.name.value, email: form.elements.email.value },
            },
          },
          redirect: "if_required",
        }).then(function (confirmed) {
          if (confirmed.error) {
            // Declined, or authentication failed: the server records it; the next try is new.
            return complete(body.confirm_url).catch(function () {}).then(function () {
              newAttempt();
              throw failure(confirmed.error.message, true);
            });
          }
          return complete(body.confirm_url);
        });
      })
      .then(function (state) { if (state !== "done") done(); })
      .catch(function (error) {
        if (error.payment) show(paymentError, error.message);
        else show(formError, error.message);
        done();
      });
  });
})();
