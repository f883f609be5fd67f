// Modules most invocations never run, loaded when a command needs them: the masquerade and spoof-check backends
// (and through them iptables and nftables) only for pods configured with them, CHECK only on CHECK. Evaluating
// a module is part of every process's start, and most pods have neither feature.
export const masquerade = () => require("./masq-backend.ts") as typeof import("./masq-backend.ts");
export const spoofCheck = () => require("./macspoofchk.ts") as typeof import("./macspoofchk.ts");
export const checkCommand = () => require("./check.ts") as typeof import("./check.ts");
