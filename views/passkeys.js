// Passkey forms (src/passkeys/), served as /assets/passkeys.js after @simplewebauthn/browser's
// bundle (/assets/webauthn.js). Every passkey form is an ordinary form posted to the server: this
// script only asks the server for a challenge, has the browser answer it, puts the answer in the
// form's hidden field and submits. Without JavaScript (or WebAuthn) the passkey forms stay hidden
// and the password forms work as they always did. Words come from the pages' data attributes.
//
//   form[data-passkey-sign-in]  sign-in page: "Sign in with a passkey", and the browser's autofill
//   form[data-passkey-add]      account page: register a passkey under the name typed
//   form[data-passkey-confirm]  confirm who you are with a passkey instead of the password
(function () {
  'use strict';
  var webauthn = window.SimpleWebAuthnBrowser;
  if (!webauthn || !webauthn.browserSupportsWebAuthn()) return;

  function csrfOf(form) {
    return form.querySelector('input[name="csrf"]').value;
  }

  /** A fresh challenge from the server, for this form's ceremony. */
  function optionsFor(form) {
    return fetch(form.dataset.options, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ csrf: csrfOf(form) }),
    }).then(function (response) {
      // Adding a passkey needs a recent sign-in: a session that has grown too old signs in again
      // and comes back to the page (the form's data-sign-in-again).
      if (response.status === 403 && form.dataset.signInAgain) {
        window.location.assign(form.dataset.signInAgain);
        return new Promise(function () { /* leaving the page */ });
      }
      // The person has as many passkeys as they may (another tab added the last): no passkey is
      // made that the server would refuse to keep.
      if (response.status === 409 && form.dataset.tooMany) {
        var full = new Error('No more passkeys may be added.');
        full.name = 'TooMany';
        throw full;
      }
      if (!response.ok) throw new Error('The server gave no passkey options.');
      return response.json();
    });
  }

  function showProblem(form, error) {
    // The person closed the prompt, or another prompt replaced it: nothing to say.
    if (error && error.name === 'AbortError') return;
    var problem = form.querySelector('[data-passkey-problem]');
    if (!problem) return;
    problem.textContent = error && error.name === 'NotAllowedError' ? form.dataset.cancelled
      : error && error.name === 'TooMany' ? form.dataset.tooMany : form.dataset.failed;
    problem.hidden = false;
  }

  function reveal(selector) {
    document.querySelectorAll(selector).forEach(function (element) { element.hidden = false; });
  }
  function conceal(selector) {
    document.querySelectorAll(selector).forEach(function (element) { element.hidden = true; });
  }

  function answerAndSubmit(form, field, start) {
    return optionsFor(form).then(start).then(function (answer) {
      form.querySelector('input[name="' + field + '"]').value = JSON.stringify(answer);
      form.submit();
    });
  }

  var signIn = document.querySelector('form[data-passkey-sign-in]');
  if (signIn) {
    signIn.hidden = false;
    var authenticate = function (useBrowserAutofill) {
      return function (optionsJSON) {
        return webauthn.startAuthentication({ optionsJSON: optionsJSON, useBrowserAutofill: useBrowserAutofill });
      };
    };
    signIn.addEventListener('submit', function (event) {
      event.preventDefault();
      answerAndSubmit(signIn, 'response', authenticate(false)).catch(function (error) { showProblem(signIn, error); });
    });
    // Autofill: the email field offers this site's passkeys among its suggestions (conditional
    // mediation), where the browser supports it; a passkey picked there signs in like the button.
    webauthn.browserSupportsWebAuthnAutofill().then(function (offered) {
      if (!offered) return;
      return answerAndSubmit(signIn, 'response', authenticate(true));
    }).catch(function () { /* the button remains */ });
  }

  var add = document.querySelector('form[data-passkey-add]');
  if (add) {
    add.hidden = false;
    conceal('[data-passkey-needs-script]');
    add.addEventListener('submit', function (event) {
      event.preventDefault();
      answerAndSubmit(add, 'response', function (optionsJSON) {
        return webauthn.startRegistration({ optionsJSON: optionsJSON });
      }).catch(function (error) { showProblem(add, error); });
    });
  }

  var confirm = document.querySelector('form[data-passkey-confirm]');
  if (confirm) {
    reveal('[data-passkey-confirm-button]');
    document.querySelectorAll('[data-passkey-confirm-button]').forEach(function (button) {
      button.addEventListener('click', function (event) {
        event.preventDefault();
        answerAndSubmit(confirm, 'assertion', function (optionsJSON) {
          return webauthn.startAuthentication({ optionsJSON: optionsJSON });
        }).catch(function (error) { showProblem(confirm, error); });
      });
    });
  }
})();
