// ipam.resolvConf: a resolv.conf whose nameserver/domain/search/options lines become the result's dns.
import { invalidConfig } from "../../lib/skel/index.ts";
import { BoundedReadError, readConfigTextBounded } from "../../lib/sys/read-bounded.ts";
import type { DNS } from "../../lib/skel/index.ts";

export function parseResolvConf(text: string): DNS {
  const dns: DNS = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const [key, ...rest] = line.split(/\s+/);
    if (!rest.length) continue;
    if (key === "nameserver") (dns.nameservers ??= []).push(rest[0]);
    else if (key === "domain") dns.domain = rest[0];
    else if (key === "search") (dns.search ??= []).push(...rest);
    else if (key === "options") (dns.options ??= []).push(...rest);
  }
  return dns;
}

/** A real resolv.conf is a few hundred bytes (glibc uses at most 3 nameservers); this is far beyond any. */
const MAX_RESOLV_CONF_BYTES = 64 << 10;

export function readResolvConf(path: string): DNS {
  let text: string;
  try {
    text = readConfigTextBounded(path, MAX_RESOLV_CONF_BYTES);
  } catch (e) {
    const why = e instanceof BoundedReadError ? e.why : String(e);
    throw invalidConfig(
      `ipam.resolvConf: cannot read ${path}: ${why}`,
      "point ipam.resolvConf at a readable resolv.conf (a regular file), or remove it",
    );
  }
  return parseResolvConf(text);
}
