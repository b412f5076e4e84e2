"""The page's side of its connection to the server: a closed tab frees its kernel, a lost kernel
is said so.

Voilà's page asks the server to shut its kernel down when it is closed, with the value of the
``_xsrf`` cookie as proof that the request comes from the page itself; but Voilà never sets that
cookie, so the request is refused and the kernel (about 700 MB) lingers until culled. The script
below sets the cookie from the page, which keeps the double-submit check meaningful: only a page
of this server's origin can set a cookie for it. It also asks for its kernel every few seconds;
when the server no longer knows it (the kernel died or was shut down) or stops answering, a
banner tells the student what happened and to reload.
"""
from __future__ import annotations

#: What the student reads when the page's kernel is gone.
KERNEL_LOST = ("This dashboard has lost its connection to the server: its Python kernel stopped. "
               "Reload the page to start again.")
#: Seconds between two checks of the kernel.
CHECK_SECONDS = 3

_SCRIPT = """
<script>
(function () {
  if (window.cnnvizConnectionWatch) { return; }
  window.cnnvizConnectionWatch = true;
  if (!/(^|;\\s*)_xsrf=[^;]+/.test(document.cookie)) {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    const token = Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
    document.cookie = '_xsrf=' + token + '; path=/; SameSite=Strict';
  }
  const element = document.getElementById('jupyter-config-data');
  const config = element ? JSON.parse(element.textContent) : {};
  if (!config.kernelId || !document.body.dataset.voila) { return; }
  const url = config.baseUrl + 'api/kernels/' + config.kernelId;
  let failures = 0;
  const timer = setInterval(async () => {
    let gone = false;
    try {
      // A Jupyter server behind JupyterHub wants the XSRF token with every request a cookie
      // authenticates; standalone Voila ignores it.
      const xsrf = (document.cookie.match(/(?:^|;\\s*)_xsrf=([^;]+)/) || [])[1] || '';
      const reply = await fetch(url, {cache: 'no-store', headers: {'X-XSRFToken': decodeURIComponent(xsrf)}});
      gone = reply.status === 404;
      // Only a server that does not answer (or answers with its own failure) counts: a refusal
      // (401/403) says nothing about the kernel, and must never tell a working student it is lost.
      failures = reply.status >= 500 ? failures + 1 : 0;
    } catch (error) {
      failures += 1;
    }
    if (gone || failures >= 3) {
      clearInterval(timer);
      const banner = document.createElement('div');
      banner.className = 'cnnviz-kernel-lost';
      banner.setAttribute('role', 'alert');
      banner.style.cssText = 'position:fixed;top:0;left:0;right:0;z-index:10000;padding:10px 16px;' +
        'background:#b71c1c;color:#fff;font:600 16px sans-serif;text-align:center;';
      const text = document.createElement('span');
      text.textContent = MESSAGE;
      const button = document.createElement('button');
      button.textContent = 'Reload';
      button.style.cssText = 'margin-left:12px;font:600 15px sans-serif;padding:3px 14px;cursor:pointer;';
      button.addEventListener('click', () => window.location.reload());
      banner.append(text, button);
      document.body.appendChild(banner);
    }
  }, CHECK_MS);
})();
</script>
"""


def connection_watch():
    """The script above as an output for the dashboard's notebook (``display(connection_watch())``).

    It does nothing outside a Voilà page (JupyterLab's page names no kernel in its configuration).
    """
    import json

    from IPython.display import HTML

    script = _SCRIPT.replace("MESSAGE", json.dumps(KERNEL_LOST)).replace("CHECK_MS", str(CHECK_SECONDS * 1000))
    return HTML(script)
