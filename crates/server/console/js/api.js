// The one way the console talks to the server: the public DocSpace API over fetch, with the
// session cookie that POST /api/2.0/authentication sets (HttpOnly: this code never sees it).
// Envelopes are unwrapped here; a failure becomes an ApiError carrying the server's message.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const message = data?.error?.message || data?.message || `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message);
  }
  // DocSpace leaves `response` out of the envelope when there is nothing (no job, no
  // schedule): that is `undefined` here.
  return data?.response;
}

export const api = {
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body),
  put: (path, body) => call("PUT", path, body),
  del: (path) => call("DELETE", path),
};

/** `{key: value}` as DocSpace's `storageParams` list, empty values left out. */
export function storageParams(map) {
  return Object.entries(map)
    .filter(([, v]) => v !== undefined && v !== null && String(v).trim() !== "")
    .map(([key, value]) => ({ key, value: String(value).trim() }));
}

/**
 * Uploads `file` for a restore through backupFileUpload.ashx: Init with the total size, then
 * raw chunks of the size the server asks for. `onProgress(sentBytes, total)` after each chunk.
 */
export async function uploadArchive(file, onProgress) {
  const ext = file.name.endsWith(".tar.gz") ? "tar.gz" : file.name.endsWith(".tar") ? "tar" : "tar.zst";
  const init = await uploadStep(
    `/backupFileUpload.ashx?Init=true&totalSize=${file.size}&extension=${ext}`,
    null,
  );
  const chunk = init.chunkSize > 0 ? Math.min(init.chunkSize, 8 << 20) : 8 << 20;
  let sent = 0;
  onProgress(0, file.size);
  while (sent < file.size) {
    const part = file.slice(sent, Math.min(sent + chunk, file.size));
    const answer = await uploadStep("/backupFileUpload.ashx", part);
    sent += part.size;
    onProgress(sent, file.size);
    if (answer.endUpload) break;
  }
}

async function uploadStep(path, body) {
  const res = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/octet-stream" },
    body,
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok || !data?.success) {
    throw new ApiError(res.status, data?.error?.message || data?.message || "The upload failed");
  }
  return data;
}
