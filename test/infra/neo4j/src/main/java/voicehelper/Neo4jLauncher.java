package voicehelper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

/**
 * Starts a real Neo4j 5 (the official test harness, in process) for the test suite.
 *
 * Usage: Neo4jLauncher --dir DIR --port BOLT_PORT [--parent-pid PID] [--plugins DIR]
 *
 * Bolt listens on 127.0.0.1 only. Authentication is disabled, so the driver's basic-auth
 * token (any user and password) is accepted, as on a development server. When the parent
 * process (the test script) disappears, the launcher stops Neo4j and exits, so an aborted
 * run never leaves a JVM behind. With --plugins, procedure jars there are loaded (the Graph
 * Data Science library) and gds.* may run unrestricted. Prints "READY bolt://127.0.0.1:PORT"
 * once serving.
 */
public final class Neo4jLauncher {
  public static void main(String[] args) throws Exception {
    Path dir = null;
    int port = 7687;
    long parentPid = -1;
    Path plugins = null;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--dir" -> dir = Path.of(args[i + 1]);
        case "--port" -> port = Integer.parseInt(args[i + 1]);
        case "--parent-pid" -> parentPid = Long.parseLong(args[i + 1]);
        case "--plugins" -> plugins = Path.of(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (dir == null) throw new IllegalArgumentException("--dir is required");
    Files.createDirectories(dir);

    var builder = Neo4jBuilders.newInProcessBuilder(dir);
    if (plugins != null) {
      // Procedure jars (Graph Data Science) are scanned from here; their classes come from the classpath.
      builder = builder
          .withConfig(GraphDatabaseSettings.plugin_dir, plugins.toAbsolutePath())
          .withConfig(GraphDatabaseSettings.procedure_unrestricted, java.util.List.of("gds.*"));
    }
    Neo4j neo4j = builder
        .withDisabledServer()
        .withConfig(BoltConnector.enabled, true)
        .withConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
        .withConfig(HttpConnector.enabled, false)
        .withConfig(GraphDatabaseSettings.auth_enabled, false)
        .withConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofSeconds(60))
        .build();

    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      neo4j.close();
      stop.countDown();
    }));
    System.out.println("READY " + neo4j.boltURI());
    System.out.flush();

    if (parentPid > 0) {
      final long watched = parentPid;
      Thread watcher = new Thread(() -> {
        while (ProcessHandle.of(watched).map(ProcessHandle::isAlive).orElse(false)) {
          try { Thread.sleep(1000); } catch (InterruptedException e) { return; }
        }
        System.exit(0);
      });
      watcher.setDaemon(true);
      watcher.start();
    }
    stop.await();
  }
}
