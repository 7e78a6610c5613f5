// Content types by extension for the files a boot directory holds; everything else (EFI
// binaries, kernels, extension-less configs) is application/octet-stream, as in the reference.

const TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.cfg': 'application/octet-stream',
  '.conf': 'application/octet-stream',
  '.htm': 'text/html',
  '.html': 'text/html',
  '.xml': 'application/xml',
  '.json': 'application/json',
  '.ipxe': 'application/octet-stream',
  '.iso': 'application/octet-stream',
  '.img': 'application/octet-stream',
  '.gz': 'application/x-gzip',
  '.xz': 'application/x-xz',
  '.tar': 'application/x-tar',
  '.zip': 'application/zip',
  '.sh': 'application/x-sh',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.pdf': 'application/pdf',
};

export function contentTypeFor(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  if (dot <= slash + 1) return 'application/octet-stream';
  return TYPES[path.slice(dot).toLowerCase()] ?? 'application/octet-stream';
}
