export const ROOT: string;
export function pluginNames(bun?: string): string[];
export function version(): string;
export function commit(): string;
export function compile(o: { outfile: string; target: string; bunTarget?: string; bunExe: string; hostBun?: string }): void;
export function writeLaunchers(dir: string, names: string[], arch: "x64" | "arm64", bun?: string): void;
