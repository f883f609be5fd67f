// ipam.resolvConf: a resolv.conf whose nameserver/domain/search/options lines become the result's dns.
import { readFileSync } from "node:fs";
import { invalidConfig } from "../../lib/skel/index.ts";
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

export function readResolvConf(path: string): DNS {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw invalidConfig(`ipam.resolvConf: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, "point ipam.resolvConf at a readable resolv.conf, or remove it");
  }
  return parseResolvConf(text);
}
