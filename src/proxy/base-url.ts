/**
 * What a channel's base_url may be. The gateway sends its provider keys there, so a URL
 * that carries credentials, goes out in clear over the network, or points at the
 * link-local range where clouds serve instance metadata (and credentials) is refused.
 * Plain http is for upstreams on this machine only (a local vLLM or Ollama, the tests'
 * fakes). The URL parser has already normalised numeric hosts (2852039166, 0xa9fea9fe,
 * 0251.0376.0251.0376 all become 169.254.169.254), so the checks see one spelling.
 * Returns why the URL is refused, or null when it is fine.
 */
export function baseUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.username || url.password) return 'must not carry credentials (the key goes in api_key_secret)';
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (url.protocol === 'http:' && !isLoopback(host)) return 'must be https:// (plain http:// only for loopback hosts)';
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https:// URL';
  if (isMetadataHost(host)) return 'must not point at a link-local or cloud-metadata address';
  return null;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

function isMetadataHost(host: string): boolean {
  if (METADATA_NAMES.has(host)) return true;
  const v4 = ipv4(host);
  if (v4) return isMetadataV4(v4);
  if (!host.startsWith('[')) return false;
  const v6 = host.slice(1, -1);
  // fe80::/10 link-local, AWS's fd00:ec2::254, and IPv4 addresses written as IPv6 (mapped
  // ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d), which the parser
  // writes as two hex groups.
  if (/^fe[89ab][0-9a-f]:/.test(v6) || v6 === 'fd00:ec2::254') return true;
  const embedded = /^(?:::(?:ffff:)?|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (embedded) {
    const hi = parseInt(embedded[1] as string, 16);
    const lo = parseInt(embedded[2] as string, 16);
    return isMetadataV4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  }
  return false;
}

function ipv4(host: string): number[] | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  return m ? m.slice(1).map(Number) : null;
}

/** 169.254.0.0/16 (link-local: AWS, GCP, Azure, OpenStack metadata), Alibaba's 100.100.100.200. */
const isMetadataV4 = ([a, b, c, d]: number[]) => (a === 169 && b === 254) || (a === 100 && b === 100 && c === 100 && d === 200);
