import { z } from 'zod';

/** The parts of engine responses Airlock relies on; everything else passes through untouched. */
export const engineVersionSchema = z.object({
  Version: z.string(),
  ApiVersion: z.string(),
  Os: z.string().optional(),
  Arch: z.string().optional(),
  KernelVersion: z.string().optional(),
  /** Docker names its parts "Engine", containerd, runc…; Podman's API service says "Podman Engine". */
  Components: z.array(z.object({ Name: z.string(), Version: z.string().optional() }).passthrough()).nullish(),
}).passthrough();
export type EngineVersion = z.infer<typeof engineVersionSchema>;

export const engineInfoSchema = z.object({
  ServerVersion: z.string().optional(),
  Runtimes: z.record(z.string(), z.unknown()).default({}),
  DefaultRuntime: z.string().optional(),
  SecurityOptions: z.array(z.string()).nullish(),
  CgroupVersion: z.string().optional(),
  Name: z.string().optional(),
  KernelVersion: z.string().optional(),
  /** Where the engine keeps images, containers and volumes, on its own machine. */
  DockerRootDir: z.string().optional(),
  /** The engine's clock (RFC 3339, nanoseconds): the clock file times in its containers use. */
  SystemTime: z.string().optional(),
}).passthrough();
export type EngineInfo = z.infer<typeof engineInfoSchema>;

export const containerSummarySchema = z.object({
  Id: z.string(),
  Names: z.array(z.string()).default([]),
  Image: z.string().optional(),
  State: z.string().optional(),
  Status: z.string().optional(),
  Created: z.number().optional(),
  Labels: z.record(z.string(), z.string()).nullish().transform((labels) => labels ?? {}),
}).passthrough();
export type ContainerSummary = z.infer<typeof containerSummarySchema>;

export const volumeListSchema = z.object({
  Volumes: z.array(z.object({ Name: z.string(), Labels: z.record(z.string(), z.string()).nullish() }).passthrough()).nullish(),
}).passthrough();

export const containerInspectSchema = z.object({
  Id: z.string(),
  State: z.object({ Running: z.boolean(), Status: z.string(), ExitCode: z.number().optional(), OOMKilled: z.boolean().optional() }).passthrough(),
  Config: z.object({ Labels: z.record(z.string(), z.string()).nullish() }).passthrough(),
  HostConfig: z.object({ Runtime: z.string().optional() }).passthrough(),
  Mounts: z.array(z.object({ Type: z.string(), Name: z.string().optional(), Destination: z.string() }).passthrough()).nullish(),
}).passthrough();
export type ContainerInspect = z.infer<typeof containerInspectSchema>;

export const execInspectSchema = z.object({
  Running: z.boolean(),
  ExitCode: z.number().nullable(),
  Pid: z.number().optional(),
}).passthrough();

export const imageInspectSchema = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Size: z.number().optional(),
  Config: z.object({ User: z.string().optional(), Env: z.array(z.string()).nullish() }).passthrough().nullish(),
}).passthrough();
