export function addCRuntime(stage: string, arch: string): string[];
