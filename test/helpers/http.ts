/** One JSON HTTP call as a client makes it; the body is parsed when it is JSON. */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; form?: FormData } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, any> }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | FormData | undefined;
  if (options.form !== undefined) body = options.form;
  else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    redirect: 'manual',
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: Record<string, any> = {};
  if (text.startsWith('{')) parsed = JSON.parse(text) as Record<string, any>;
  return { status: response.status, headers: response.headers, body: parsed };
}

/** A multipart form with one text file, as `POST /v1/documents` takes it. */
export function documentForm(
  content: string | Buffer,
  filename: string,
  fields: Record<string, string> = {},
  type = 'text/plain',
): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([content], { type }), filename);
  return form;
}
