import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The node's Prometheus metrics. One registry per app instance, so that several nodes in
 * one test process do not share counters.
 */
export class Metrics {
  readonly registry = new Registry();

  /** Open Socket.IO connections on this node. */
  readonly socketConnections = new Gauge({
    name: 'voicehelper_socket_connections',
    help: 'Open Socket.IO connections on this node',
    registers: [this.registry],
  });

  /** Socket.IO connections accepted or refused at the handshake. */
  readonly socketHandshakes = new Counter({
    name: 'voicehelper_socket_handshakes_total',
    help: 'Socket.IO handshakes by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** Client-to-server events by name and outcome (`ok` or an error code). */
  readonly socketEvents = new Counter({
    name: 'voicehelper_socket_events_total',
    help: 'Socket.IO client events by event and outcome',
    labelNames: ['event', 'outcome'] as const,
    registers: [this.registry],
  });

  /** Handler time per event. */
  readonly socketEventSeconds = new Histogram({
    name: 'voicehelper_socket_event_duration_seconds',
    help: 'Socket.IO event handling time',
    labelNames: ['event'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /** HTTP requests by method, route pattern and status. */
  readonly httpRequests = new Counter({
    name: 'voicehelper_http_requests_total',
    help: 'HTTP requests by method, route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  /** Starts of the reference assistant this node runs (ASSISTANT=on); past 1, restarts after it exited. */
  readonly assistantStarts = new Counter({
    name: 'voicehelper_assistant_starts_total',
    help: 'Starts of the reference assistant this node runs; each one past the first follows an exit',
    registers: [this.registry],
  });

  /** 1 while the reference assistant this node runs is up, else 0. */
  readonly assistantUp = new Gauge({
    name: 'voicehelper_assistant_up',
    help: 'Whether the reference assistant this node runs is up (1) or not (0)',
    registers: [this.registry],
  });

  /** Document uploads this node is receiving now. */
  readonly uploadsInFlight = new Gauge({
    name: 'voicehelper_uploads_in_flight',
    help: 'Document uploads this node is receiving now',
    registers: [this.registry],
  });

  /** `retrieve` answers with a part missing because its store was down. */
  readonly retrieveDegraded = new Counter({
    name: 'voicehelper_retrieve_degraded_total',
    help: 'retrieve answers without their vector or graph part (store down)',
    labelNames: ['part'] as const,
    registers: [this.registry],
  });

  /** 1 when a dependency answered its last readiness probe, 0 otherwise. */
  readonly dependencyUp = new Gauge({
    name: 'voicehelper_dependency_up',
    help: 'Whether a dependency answered its last probe',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });

  /** Checks that could not reach the shared rate limiter (then failed open or closed). */
  readonly rateLimiterFailures = new Counter({
    name: 'voicehelper_rate_limiter_failures_total',
    help: 'Rate-limit checks that could not reach the shared limiter',
    registers: [this.registry],
  });

  /** Client events refused before their handler ran, by why: `rate_limit`, `in_flight` (too many at once on the socket), `draining`. */
  readonly refusedEvents = new Counter({
    name: 'voicehelper_socket_events_refused_total',
    help: 'Socket.IO client events refused before their handler ran, by event and reason',
    labelNames: ['event', 'reason'] as const,
    registers: [this.registry],
  });

  /** Sockets ended because they did not read what they were sent. */
  readonly slowConsumers = new Counter({
    name: 'voicehelper_slow_consumer_disconnects_total',
    help: 'Sockets disconnected because they did not read what they were sent',
    registers: [this.registry],
  });

  /** Requests refused by a rate limit. */
  readonly rateLimited = new Counter({
    name: 'voicehelper_rate_limited_total',
    help: 'Events and requests refused by a rate limit',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  /** Barge-ins that stored a turn (`turn:interrupt`). */
  readonly turnInterruptions = new Counter({
    name: 'voicehelper_turn_interruptions_total',
    help: 'Assistant turns cut by a barge-in (turn:interrupt) and stored as interrupted',
    registers: [this.registry],
  });

  /** From the end of a user turn to the assistant's first delta, first audio chunk, and final message. */
  readonly turnFirstDelta = this.turnHistogram(
    'voicehelper_turn_first_delta_seconds',
    "from the end of a user turn to the assistant's first message:delta",
  );
  readonly turnFirstAudio = this.turnHistogram(
    'voicehelper_turn_first_audio_seconds',
    "from the end of a user turn to the assistant's first audio:chunk",
  );
  readonly turnFinal = this.turnHistogram(
    'voicehelper_turn_final_seconds',
    "from the end of a user turn to the assistant's final message",
  );

  private turnHistogram(name: string, help: string): Histogram {
    return new Histogram({
      name,
      help: `Seconds ${help}`,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 30],
      registers: [this.registry],
    });
  }

  /**
   * A gauge whose value is read when metrics are scraped, registered by the component that
   * owns the value, where it is built (the relay's pending messages, the audio buffered).
   */
  gauge(name: string, help: string, read: () => number): Gauge {
    const gauge: Gauge = new Gauge({ name, help, registers: [this.registry], collect: (): void => gauge.set(read()) });
    return gauge;
  }

  /**
   * A counter whose total is read when metrics are scraped (`read` only ever grows),
   * registered by the component that counts, where it is built (live audio frames dropped).
   */
  counter(name: string, help: string, read: () => number): Counter {
    let reported = 0;
    const counter: Counter = new Counter({
      name,
      help,
      registers: [this.registry],
      collect: (): void => {
        const total = read();
        if (total > reported) counter.inc(total - reported);
        reported = Math.max(reported, total);
      },
    });
    return counter;
  }

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry });
  }
}
