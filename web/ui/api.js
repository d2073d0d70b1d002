// The UI's calls to a4ps serve (docs/http-api.md). On a server with a token the UI asks for it
// once (kept for the browser session) and sends it as a bearer token, or as ?access_token=
// where a browser cannot set headers (EventSource).
let token = sessionStorage.getItem('a4ps-token') || '';

export function withToken(url) {
  if (!token) return url;
  return url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token);
}

// An error the server answered: `status` is the HTTP status, the message the server's words.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, {
      ...options,
      headers: {
        'Content-Type': 'application/json',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(options.headers || {}),
      },
    });
  } catch (e) {
    throw new ApiError(0, `the A4PS server does not answer (${e.message}); is a4ps serve running?`);
  }
  if (response.status === 401) {
    token = prompt('This server needs its token ([server] token):') || '';
    sessionStorage.setItem('a4ps-token', token);
    if (token) return api(path, options);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status,
      body.error ? body.error.message : `the server answered HTTP ${response.status}`);
  }
  return body;
}

export const post = (path, body = {}) =>
  api(path, { method: 'POST', body: JSON.stringify(body) });
