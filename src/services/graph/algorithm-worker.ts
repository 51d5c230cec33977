import { parentPort, workerData } from 'node:worker_threads';
import type { ProjectedGraph } from '../../stores/graph/graph-store.js';
import { type AlgorithmName, runInProcess } from './algorithms.js';

/** Runs one in-process graph algorithm off the event loop (see runInWorker) and posts its result. */
const { name, projected, limit } = workerData as { name: AlgorithmName; projected: ProjectedGraph; limit: number };
parentPort?.postMessage(runInProcess(name, projected, limit));
