// The forwarder lives with the fault harness, which uses it too.
export * from '../../chaos/tcp-proxy.js';
