// The Java client side of fastkafka's interop tests, on kafka-clients from Maven Central.
// fastkafka-test-support compiles it with javac against the jars .ci/setup fetched and
// runs it (JavaClient in src/java.rs).
//
//   produce BOOTSTRAP TOPIC N        N records with keys key-0..key-(N-1) and values
//                                    value-0..value-(N-1), default partitioner, acks=all;
//                                    prints "partition P count C" per partition, then
//                                    "produced N failed F"; exits 1 if any failed.
//   partition-of NUM_PARTITIONS KEY...
//                                    one line per key: the partition the producer's
//                                    default partitioner gives that key (UTF-8 bytes).
//
// Client properties beyond the defaults come from system properties named
// "interop.<property>", e.g. -Dinterop.security.protocol=SASL_SSL.

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Interop {
    private static final String PREFIX = "interop.";

    public static void main(String[] args) throws Exception {
        if (args.length >= 4 && args[0].equals("produce")) {
            System.exit(produce(args[1], args[2], Integer.parseInt(args[3])));
        } else if (args.length >= 2 && args[0].equals("partition-of")) {
            int partitions = Integer.parseInt(args[1]);
            StringBuilder out = new StringBuilder();
            for (int i = 2; i < args.length; i++) {
                byte[] key = args[i].getBytes(StandardCharsets.UTF_8);
                // What KafkaProducer.partition() does for a keyed record without a
                // partitioner.class: BuiltInPartitioner.partitionForKey, that is
                // Utils.toPositive(Utils.murmur2(key)) % partitions.
                out.append(BuiltInPartitioner.partitionForKey(key, partitions)).append('\n');
            }
            System.out.print(out);
        } else {
            System.err.println(
                "usage: Interop produce BOOTSTRAP TOPIC N | Interop partition-of NUM_PARTITIONS KEY...");
            System.exit(2);
        }
    }

    private static int produce(String bootstrap, String topic, int count) throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        for (String name : System.getProperties().stringPropertyNames()) {
            if (name.startsWith(PREFIX)) {
                props.put(name.substring(PREFIX.length()), System.getProperty(name));
            }
        }
        Map<Integer, Long> perPartition = new TreeMap<>();
        AtomicLong failed = new AtomicLong();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, "key-" + i, "value-" + i), (metadata, error) -> {
                    if (error != null) {
                        if (failed.getAndIncrement() == 0) {
                            System.err.println("send failed: " + error);
                        }
                    } else {
                        synchronized (perPartition) {
                            perPartition.merge(metadata.partition(), 1L, Long::sum);
                        }
                    }
                });
            }
            producer.flush();
        }
        synchronized (perPartition) {
            long produced = 0;
            for (Map.Entry<Integer, Long> entry : perPartition.entrySet()) {
                System.out.println("partition " + entry.getKey() + " count " + entry.getValue());
                produced += entry.getValue();
            }
            System.out.println("produced " + produced + " failed " + failed.get());
        }
        return failed.get() == 0 ? 0 : 1;
    }
}
