/**
 * NATS topology for Trellis: operator, accounts, users and callout keys generated in-process, the
 * nats-server configuration for them, and the control-plane config file that points at them.
 *
 * @module
 */

export { jetStreamDisabledLimits, unlimitedAccountLimits } from "./account-limits.js";
export {
  buildControlPlaneConfig,
  type CalloutSigningKeyConfig,
  CONTROL_PLANE_CONFIG_FILE,
  type ControlPlaneFileConfig,
  renderControlPlaneConfig,
  type WriteControlPlaneConfigOptions,
  writeControlPlaneConfig,
} from "./control-plane-config.js";
export {
  type FullResolverConfOptions,
  type NatsConfOptions,
  renderFullResolverConf,
  renderNatsConf,
} from "./nats-conf.js";
export {
  type FindNatsServerBinaryOptions,
  findNatsServerBinary,
  freeLoopbackPort,
  type NatsServerProcess,
  NatsServerStartError,
  natsServerVersion,
  type SpawnNatsServerOptions,
  spawnNatsServer,
} from "./server-process.js";
export {
  type AccountMaterial,
  type AccountName,
  type GenerateTopologyOptions,
  generateTopology,
  type NkeyMaterial,
  type OperatorMaterial,
  TOPOLOGY_USERS,
  type Topology,
  type TopologyUserKey,
  type UserMaterial,
} from "./topology.js";
export {
  readTopology,
  readTopologyManifest,
  TOPOLOGY_FILE_NAMES,
  TopologyFileError,
  type TopologyFiles,
  type TopologyManifest,
  topologyFiles,
  type WriteTopologyOptions,
  writeTopology,
} from "./topology-files.js";
