import { ConfigError, loadConfig } from './load.js';

// scripts/start.sh asks this before it makes the assistant's venv: prints `on` when the node
// this environment configures will start the assistant once ASSISTANT_PYTHON is set (the
// same rule the node applies, written once in src/config), `off` otherwise. A configuration
// the node would refuse prints `off`: the node then says what is wrong itself.
try {
  const config = loadConfig({ ...process.env, ASSISTANT_PYTHON: process.env['ASSISTANT_PYTHON'] ?? 'python3' });
  console.log(config.assistant.mode === 'on' ? 'on' : 'off');
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.log('off');
}
