'use strict';
// The log-in form: posts the user and password as JSON; the service answers with an
// HttpOnly session cookie, then the user's page opens (the desktop for an agent).
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('login-form');
  const error = document.getElementById('login-error');
  const button = document.getElementById('login-submit');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      const r = await fetch('/api/v1/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          user: document.getElementById('login-user').value,
          password: document.getElementById('login-password').value,
        }),
      });
      if (r.ok) {
        // An agent works from the desktop, everyone else watches the dashboard.
        let home = '/dashboard';
        try { home = (await r.json()).home || home; } catch (_) { /* keep the dashboard */ }
        location.href = home;
        return;
      }
      let message = r.status === 401 ? '用户名或密码错误 · wrong user name or password' : `HTTP ${r.status}`;
      try {
        const body = await r.json();
        if (r.status !== 401 && body.error) message = body.error;
      } catch (_) { /* not JSON: keep the status */ }
      error.textContent = message;
      error.hidden = false;
    } catch (err) {
      error.textContent = `无法连接 · cannot reach the service: ${err.message}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
});
