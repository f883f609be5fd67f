// flannel: turn this node's flannel lease (subnet.env) into a bridge + host-local delegate config, save it for
// DEL, and delegate. bridge and host-local run in this process when they are this executable.
import {
  CniError,
  Code,
  type Command,
  type Context,
  type Plugin,
  type Result,
  VALID_ATTACHMENTS,
  delegate,
  validAttachments,
  validContainers,
} from "../../lib/skel/index.ts";
import { FLANNEL_SHAPE, type FlannelConf, ipamNotObject, loadConfig } from "./config.ts";
import { goJSON, renderDelegate } from "./render.ts";
import { readConfig, removeAbandonedSaves, removeConfig, saveConfig, savedContainers, undoSave } from "./saved-config.ts";
import { loadSubnetEnv } from "./subnet-env.ts";

function render(conf: FlannelConf): { json: Record<string, unknown>; bytes: string } {
  if (conf.ipamUnusable) throw ipamNotObject(conf.ipamGiven);
  const json = renderDelegate(conf, loadSubnetEnv(conf.subnetFile));
  return { json, bytes: goJSON(json) };
}

/** Hand the delegate config (its exact bytes, Go-encoded unless given) to its plugin. */
function delegateTo(ctx: Context, json: Record<string, unknown>, command: Command, bytes = goJSON(json)): Result | undefined {
  const type = typeof json.type === "string" ? json.type : "bridge";
  return delegate(ctx, type, new TextEncoder().encode(bytes), command);
}

function add(ctx: Context): Result {
  const conf = loadConfig(ctx.conf);
  const { json, bytes } = render(conf);
  // Saved first, so a crash after the delegate succeeded still leaves DEL what it needs; undone on failure,
  // back to what a previous ADD of this container saved (the Go plugin leaves the failed ADD's bytes instead).
  const previous = readConfig(conf.dataDir, ctx.containerID);
  saveConfig(conf.dataDir, ctx.containerID, bytes);
  try {
    return delegateTo(ctx, json, "ADD", bytes)!;
  } catch (e) {
    try {
      undoSave(conf.dataDir, ctx.containerID, previous, bytes);
    } catch (undo) {
      // The delegate's error is the one the runtime must see; the state left behind is named for the operator.
      ctx.log.warn(`cannot undo the saved config of ${ctx.containerID}: ${(undo as Error).message}`);
    }
    throw e;
  }
}

/** The saved delegate config; when it is missing or unreadable (crash, flannel#1662), re-render from subnet.env. */
function savedOrRendered(ctx: Context, conf: FlannelConf): { json: Record<string, unknown>; bytes: string } | undefined {
  const saved = readConfig(conf.dataDir, ctx.containerID);
  if (saved !== undefined) {
    try {
      const json = JSON.parse(saved);
      if (typeof json === "object" && json !== null && !Array.isArray(json)) return { json, bytes: saved };
    } catch {
      // fall through to re-rendering
    }
    ctx.log.warn(`${conf.dataDir}/${ctx.containerID} is not a delegate config; re-rendering it from ${conf.subnetFile}`);
  }
  if (conf.ipamUnusable) {
    // Re-rendering would name host-local's default store, not the one this pod's address is in.
    ctx.log.warn(`no saved config for ${ctx.containerID} and "ipam" is not an object: its address store is unknown, so nothing is released`);
    return undefined;
  }
  try {
    return render(conf);
  } catch (e) {
    ctx.log.warn(`no saved config for ${ctx.containerID} and ${conf.subnetFile} is unusable (${(e as Error).message}); nothing to delegate`);
    return undefined;
  }
}

function del(ctx: Context): void {
  const conf = loadConfig(ctx.conf, { teardown: true });
  // First, so that a delegate DEL that fails (and is retried) does not keep them.
  removeAbandonedSaves(conf.dataDir, ctx.containerID, ctx.log);
  const d = savedOrRendered(ctx, conf);
  if (d) delegateTo(ctx, d.json, "DEL", d.bytes);
  // Only once the delegate has released everything: a failed DEL is retried with the same config.
  removeConfig(conf.dataDir, ctx.containerID);
}

function check(ctx: Context): void {
  const conf = loadConfig(ctx.conf);
  const saved = readConfig(conf.dataDir, ctx.containerID);
  if (saved === undefined) {
    throw new CniError(
      Code.Internal,
      `no saved delegate config for container ${ctx.containerID} in ${conf.dataDir}`,
      "the pod was not attached by flannel on this node, or its state was lost: re-create the pod",
    );
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(saved);
  } catch {
    throw new CniError(
      Code.Internal,
      `the saved delegate config ${conf.dataDir}/${ctx.containerID} is not JSON`,
      "it was damaged (a crash while writing?); re-create the pod",
    );
  }
  // The node's lease must still be the one the pod got its address from.
  const current = render(conf).json;
  const ranges = (j: Record<string, unknown>) => JSON.stringify((j.ipam as Record<string, unknown> | undefined)?.ranges);
  if (ranges(json) !== ranges(current)) {
    throw new CniError(
      Code.Internal,
      `the node's flannel subnet changed since container ${ctx.containerID} was attached`,
      `the pod got ${ranges(json)}, ${conf.subnetFile} now says ${ranges(current)}; re-create the pod`,
    );
  }
  if (ctx.conf.prevResult !== undefined) json.prevResult = ctx.conf.prevResult;
  delegateTo(ctx, json, "CHECK");
}

/** STATUS: the same checks as ADD, reported as "not available" so runtimes mark the node's network not ready. */
function status(ctx: Context): void {
  const conf = loadConfig(ctx.conf);
  let json: Record<string, unknown>;
  try {
    json = render(conf).json;
  } catch (e) {
    if (e instanceof CniError) throw new CniError(Code.NotAvailable, e.message, e.details);
    throw e;
  }
  delegateTo(ctx, json, "STATUS");
}

function gc(ctx: Context): void {
  const conf = loadConfig(ctx.conf, { teardown: true });
  // Refused before anything is removed: a GC that cannot know the store must not release from a guessed one.
  if (conf.ipamUnusable) throw ipamNotObject(conf.ipamGiven);
  const valid = validContainers(ctx.conf);
  // Every container's: an abandoned scratch file is garbage whether or not its container is still valid.
  removeAbandonedSaves(conf.dataDir, undefined, ctx.log);
  for (const id of savedContainers(conf.dataDir)) {
    if (!valid.has(id)) {
      ctx.log.info(`gc: removing saved config of ${id}`);
      removeConfig(conf.dataDir, id);
    }
  }
  const { json } = render(conf);
  json[VALID_ATTACHMENTS] = validAttachments(ctx.conf);
  delegateTo(ctx, json, "GC");
}

export const flannel: Plugin = { name: "flannel", about: "CNI flannel plugin", shape: FLANNEL_SHAPE, add, del, check, gc, status };
