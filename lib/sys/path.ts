// POSIX path joining and splitting, as node:path's posix functions do it, without loading node:path on a
// plugin's path. Paths are strings of names separated by "/"; nothing here touches the filesystem.

/** node:path's normalize: "." and empty names dropped, ".." resolved where it can be, one trailing "/" kept. */
export function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const trailing = path.endsWith("/");
  const out: string[] = [];
  for (const name of path.split("/")) {
    if (name === "" || name === ".") continue;
    if (name !== "..") out.push(name);
    else if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (!absolute) out.push("..");
  }
  const joined = out.join("/");
  if (joined === "") return absolute ? "/" : trailing ? "./" : ".";
  return (absolute ? "/" : "") + joined + (trailing ? "/" : "");
}

/** node:path's join: the non-empty parts joined with "/", normalized. */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/** node:path's dirname: everything before the last name ("/" for a name at the root, "." for a bare name). */
export function dirname(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!inTrailingSlashes) {
        end = i;
        break;
      }
    } else inTrailingSlashes = false;
  }
  if (end === -1) return rooted ? "/" : ".";
  if (rooted && end === 1) return "//";
  return path.slice(0, end);
}

/** node:path's basename (without its suffix argument): the last name, trailing "/" ignored. */
export function basename(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}
