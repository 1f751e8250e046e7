/**
 * The Roboport REST API as the console uses it. Errors come back as ApiError carrying the API's
 * `{error: {code, message, details}}`; a 401 triggers one token refresh and one retry.
 */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** `details.fields` of a 400: [{ field: 'input.url', message }]. */
  get fields() {
    return Array.isArray(this.details?.fields) ? this.details.fields : [];
  }
}

export class RoboportApi {
  #baseUrl;
  #session;
  #routes;

  /** `routes`: "METHOD /path" of every deployed route (config.json); undefined = assume all. */
  constructor({ apiUrl, routes }, session) {
    this.#baseUrl = apiUrl.replace(/\/+$/, '');
    this.#session = session;
    this.#routes = Array.isArray(routes) ? new Set(routes) : undefined;
  }

  /** Whether this deployment has a route, e.g. has('POST /jobs/{jobId}/retry'). */
  has(route) {
    return this.#routes ? this.#routes.has(route) : true;
  }

  listRobots() {
    return this.#request('GET', '/robots');
  }

  listJobs({ status, limit, nextToken } = {}) {
    return this.#request('GET', '/jobs', { query: { status, limit, nextToken } });
  }

  getJob(jobId) {
    return this.#request('GET', `/jobs/${encodeURIComponent(jobId)}`);
  }

  listItems(jobId, { nextToken } = {}) {
    return this.#request('GET', `/jobs/${encodeURIComponent(jobId)}/items`, { query: { nextToken } });
  }

  submitJob(submission, idempotencyKey) {
    return this.#request('POST', '/jobs', { body: submission, headers: { 'Idempotency-Key': idempotencyKey } });
  }

  cancelJob(jobId) {
    return this.#request('POST', `/jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  /** `scope`: 'technical' (failed for technical reasons only, the API's default) or 'all-failed'. */
  retryJob(jobId, idempotencyKey, scope = 'technical') {
    return this.#request('POST', `/jobs/${encodeURIComponent(jobId)}/retry`, { body: { scope }, headers: { 'Idempotency-Key': idempotencyKey } });
  }

  /** Every file of a finished job in one ZIP: `{name, size, files, url}` (the link lasts 15 minutes). */
  archiveJob(jobId) {
    return this.#request('POST', `/jobs/${encodeURIComponent(jobId)}/archive`);
  }

  /** Admins: queue depths, running jobs, last hour's throughput, portal session slots. */
  operationsOverview() {
    return this.#request('GET', '/ops/overview');
  }

  listDeadLetters() {
    return this.#request('GET', '/ops/dlq');
  }

  /** One dead letter back to the robot queue, or all of them without `messageId`. */
  redriveDeadLetters(messageId) {
    return this.#request('POST', '/ops/dlq/redrive', { body: messageId ? { messageId } : {} });
  }

  async #request(method, path, { query = {}, body, headers = {} } = {}) {
    const url = new URL(`${this.#baseUrl}${path}`);
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    const send = async () => {
      const token = await this.#session.idToken();
      return fetch(url, {
        method,
        headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    };
    let response;
    try {
      response = await send();
      if (response.status === 401 && this.#session.signedIn) {
        await this.#session.refresh();
        response = await send();
      }
    } catch (error) {
      if (error?.name === 'AuthError') throw error;
      throw new ApiError(0, 'NETWORK_ERROR', 'Cannot reach the Roboport API. Check your connection and try again.');
    }
    const text = await response.text();
    let payload;
    try {
      payload = text ? JSON.parse(text) : undefined;
    } catch {
      payload = undefined;
    }
    if (!response.ok) {
      const error = payload?.error ?? {};
      throw new ApiError(response.status, error.code ?? `HTTP_${response.status}`, error.message ?? payload?.message ?? `The API answered ${response.status}`, error.details);
    }
    return payload;
  }
}
