export const COMPILE_FLAGS: string[];
