package voicehelper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.config.Setting;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

/**
 * Starts a real Neo4j 5 (the official test harness, in process) for the test suite.
 *
 * Usage: Neo4jLauncher --dir DIR --port BOLT_PORT [--parent-pid PID] [--plugins DIR] [--keep-data]
 *
 * Bolt listens on 127.0.0.1 only. Authentication is disabled, so the driver's basic-auth
 * token (any user and password) is accepted, as on a development server. When the parent
 * process (the test script) disappears, the launcher stops Neo4j and exits, so an aborted
 * run never leaves a JVM behind. With --plugins, procedure jars there are loaded (the Graph
 * Data Science library) and gds.* may run unrestricted. Prints "READY bolt://127.0.0.1:PORT"
 * once serving.
 *
 * The test harness works in a fresh folder under DIR and deletes it on exit. With --keep-data,
 * DIR itself is the Neo4j home (an embedded DBMS, not the harness) and nothing is deleted: a
 * launcher started again on the same DIR finds the graph the previous one left, as the fault
 * harness needs when it stops and restarts Neo4j.
 */
public final class Neo4jLauncher {
  public static void main(String[] args) throws Exception {
    Path dir = null;
    int port = 7687;
    long parentPid = -1;
    Path plugins = null;
    boolean keepData = false;
    for (int i = 0; i < args.length; i += 2) {
      if (args[i].equals("--keep-data")) {
        keepData = true;
        i--;
        continue;
      }
      if (i + 1 >= args.length) throw new IllegalArgumentException(args[i] + " needs a value");
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

    AutoCloseable server;
    String boltUri = "bolt://127.0.0.1:" + port;
    if (keepData) {
      var builder = new DatabaseManagementServiceBuilder(dir);
      configure(builder::setConfig, port, plugins);
      DatabaseManagementService dbms = builder.build();
      server = dbms::shutdown;
    } else {
      var builder = Neo4jBuilders.newInProcessBuilder(dir).withDisabledServer();
      configure(builder::withConfig, port, plugins);
      Neo4j neo4j = builder.build();
      server = neo4j::close;
      boltUri = neo4j.boltURI().toString();
    }

    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        server.close();
      } catch (Exception e) {
        e.printStackTrace();
      }
      stop.countDown();
    }));
    System.out.println("READY " + boltUri);
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

  /** The settings both modes share, applied through the builder's own setter. */
  private static void configure(Configurer set, int port, Path plugins) {
    if (plugins != null) {
      // Procedure jars (Graph Data Science) are scanned from here; their classes come from the classpath.
      set.apply(GraphDatabaseSettings.plugin_dir, plugins.toAbsolutePath());
      set.apply(GraphDatabaseSettings.procedure_unrestricted, List.of("gds.*"));
    }
    set.apply(BoltConnector.enabled, true);
    set.apply(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port));
    set.apply(HttpConnector.enabled, false);
    set.apply(GraphDatabaseSettings.auth_enabled, false);
    set.apply(GraphDatabaseSettings.transaction_timeout, Duration.ofSeconds(60));
    // Bolt's network threads otherwise wait for 5 s without new work, twice, before they stop:
    // every stop took 12 s (the fault harness's Neo4j restart, the backup test's teardown).
    // The database itself still shuts down cleanly (checkpoint) before them.
    set.apply(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0);
  }

  @FunctionalInterface
  private interface Configurer {
    <T> Object apply(Setting<T> setting, T value);
  }
}
