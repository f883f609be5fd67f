// A minimal client of the kubelet's Container Runtime Interface (CRI API `runtime.v1`, k8s.io/cri-api's
// api.proto): just the RuntimeService calls a pod's network lifecycle goes through, over gRPC on the runtime's
// socket. The protobuf messages are written and read by hand (a few lines of wire format below) with the field
// numbers of api.proto, so the tests need no code generation and show exactly what is sent.
import { Client, credentials } from "@grpc/grpc-js";

// --- protobuf wire format: varints, length-delimited fields, maps as repeated {1: key, 2: value} entries ---

const VARINT = 0;
const LEN = 2;

/** Builds one message. Scalars at their default value are left out, as proto3 does; sub-messages are always sent. */
export class Writer {
  private readonly chunks: Buffer[] = [];

  private varint(n: number): void {
    const bytes: number[] = [];
    for (; n > 0x7f; n = Math.floor(n / 128)) bytes.push((n % 128) | 0x80);
    bytes.push(n);
    this.chunks.push(Buffer.from(bytes));
  }

  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint(field: number, n = 0): this {
    if (n) {
      this.key(field, VARINT);
      this.varint(n);
    }
    return this;
  }

  bool(field: number, b = false): this {
    return this.uint(field, b ? 1 : 0);
  }

  bytes(field: number, bytes: Buffer): this {
    this.key(field, LEN);
    this.varint(bytes.length);
    this.chunks.push(bytes);
    return this;
  }

  string(field: number, s = ""): this {
    return s ? this.bytes(field, Buffer.from(s)) : this;
  }

  /** A repeated string: every element is sent, even an empty one. */
  strings(field: number, list: string[] = []): this {
    for (const s of list) this.bytes(field, Buffer.from(s));
    return this;
  }

  /** A sub-message; present even when empty (an empty SecurityProfile means RuntimeDefault). */
  message(field: number, m: Writer | undefined): this {
    return m ? this.bytes(field, m.finish()) : this;
  }

  map(field: number, entries: Record<string, string> = {}): this {
    for (const [k, v] of Object.entries(entries)) this.message(field, new Writer().string(1, k).string(2, v));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A decoded message: each field number's values in order (numbers for varints, bytes for length-delimited). */
export type Fields = Map<number, (number | Buffer)[]>;

export function decode(buf: Buffer): Fields {
  const fields: Fields = new Map();
  let pos = 0;
  const varint = (): number => {
    let n = 0;
    for (let mul = 1; ; mul *= 128) {
      if (pos >= buf.length) throw new Error("protobuf: truncated varint");
      const b = buf[pos++];
      n += (b & 0x7f) * mul; // arithmetic, not bit operations: int64 values (timestamps) exceed 32 bits
      if (!(b & 0x80)) return n;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    let value: number | Buffer;
    if (wire === VARINT) value = varint();
    else if (wire === LEN) {
      const len = varint();
      if (pos + len > buf.length) throw new Error("protobuf: truncated field");
      value = buf.subarray(pos, (pos += len));
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4; // fixed64 / fixed32: none of the fields read here
      continue;
    } else throw new Error(`protobuf: unsupported wire type ${wire}`);
    fields.set(field, [...(fields.get(field) ?? []), value]);
  }
  return fields;
}

const last = (f: Fields, n: number) => f.get(n)?.at(-1);
export const str = (f: Fields, n: number): string => (last(f, n) as Buffer | undefined)?.toString("utf8") ?? "";
export const num = (f: Fields, n: number): number => (last(f, n) as number | undefined) ?? 0;
export const sub = (f: Fields, n: number): Fields => decode((last(f, n) as Buffer | undefined) ?? Buffer.alloc(0));
export const map = (f: Fields, n: number): Record<string, string> =>
  Object.fromEntries((f.get(n) ?? []).map((e) => [str(decode(e as Buffer), 1), str(decode(e as Buffer), 2)]));

// --- runtime.v1 messages (field numbers from api.proto) ---

const PROTOCOL = { TCP: 0, UDP: 1, SCTP: 2 } as const;
const NAMESPACE_MODE = { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 } as const;
const PROFILE_TYPE = { RuntimeDefault: 0, Unconfined: 1, Localhost: 2 } as const;
const SANDBOX_STATE = ["SANDBOX_READY", "SANDBOX_NOTREADY"] as const;

type NamespaceMode = keyof typeof NAMESPACE_MODE;

export interface PortMapping {
  protocol: keyof typeof PROTOCOL;
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt?: number };
  hostname: string;
  logDirectory: string;
  dnsConfig?: { servers?: string[]; searches?: string[]; options?: string[] };
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux: {
    cgroupParent: string;
    securityContext?: {
      namespaceOptions?: { network?: NamespaceMode; pid?: NamespaceMode; ipc?: NamespaceMode };
      seccomp?: { profileType: keyof typeof PROFILE_TYPE };
    };
  };
}

function podSandboxConfig(c: PodSandboxConfig): Writer {
  const { metadata: m, dnsConfig: dns, linux } = c;
  const w = new Writer()
    .message(1, new Writer().string(1, m.name).string(2, m.uid).string(3, m.namespace).uint(4, m.attempt))
    .string(2, c.hostname)
    .string(3, c.logDirectory)
    .message(4, dns && new Writer().strings(1, dns.servers).strings(2, dns.searches).strings(3, dns.options));
  for (const p of c.portMappings ?? []) {
    w.message(5, new Writer().uint(1, PROTOCOL[p.protocol]).uint(2, p.containerPort).uint(3, p.hostPort).string(4, p.hostIp));
  }
  const sc = linux.securityContext;
  const ns = sc?.namespaceOptions;
  const mode = (x?: NamespaceMode) => NAMESPACE_MODE[x ?? "POD"];
  const security =
    sc &&
    new Writer()
      .message(1, ns && new Writer().uint(1, mode(ns.network)).uint(2, mode(ns.pid)).uint(3, mode(ns.ipc)))
      .message(9, sc.seccomp && new Writer().uint(1, PROFILE_TYPE[sc.seccomp.profileType]));
  return w.map(6, c.labels).map(7, c.annotations).message(8, new Writer().string(1, linux.cgroupParent).message(2, security));
}

export interface PodSandboxStatus {
  id: string;
  state: (typeof SANDBOX_STATE)[number];
  /** status.network.ip: the pod IP the runtime took from the CNI result. */
  ip: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** With verbose: the runtime's extra information; containerd's "info" key holds JSON with the sandbox pid. */
  info: Record<string, string>;
}

/** The RuntimeService on a runtime's socket; every call has a deadline. */
export class CriClient {
  private readonly client: Client;

  constructor(socket: string) {
    this.client = new Client(`unix://${socket}`, credentials.createInsecure());
  }

  private call(method: string, request: Writer, timeoutMs = 60_000): Promise<Fields> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/runtime.v1.RuntimeService/${method}`,
        (w: Writer) => w.finish(),
        decode,
        request,
        { deadline: Date.now() + timeoutMs },
        (err, response) => (err ? reject(new Error(`${method}: ${err.message}`)) : resolve(response!)),
      );
    });
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    const r = await this.call("Version", new Writer().string(1, "v1"));
    return { runtimeName: str(r, 2), runtimeVersion: str(r, 3), runtimeApiVersion: str(r, 4) };
  }

  /** Returns the new sandbox's id. */
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ""): Promise<string> {
    const r = await this.call("RunPodSandbox", new Writer().message(1, podSandboxConfig(config)).string(2, runtimeHandler));
    return str(r, 1);
  }

  async podSandboxStatus(id: string, verbose = true): Promise<PodSandboxStatus> {
    const r = await this.call("PodSandboxStatus", new Writer().string(1, id).bool(2, verbose));
    const s = sub(r, 1);
    return {
      id: str(s, 1),
      state: SANDBOX_STATE[num(s, 3)],
      ip: str(sub(s, 5), 1),
      labels: map(s, 7),
      annotations: map(s, 8),
      info: map(r, 2),
    };
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call("StopPodSandbox", new Writer().string(1, id));
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call("RemovePodSandbox", new Writer().string(1, id));
  }

  close(): void {
    this.client.close();
  }
}
