/*
 * librdkafka's mock cluster auto-creates topics with a fixed default of 4 partitions
 * and has no public setter for it. fastkafka's embedded broker promises a chosen
 * default (3, as in the docs), so this shim sets the field directly. It is compiled
 * against the very headers librdkafka was built from (rdkafka-sys exports its build
 * root), so the struct layout always matches the linked library.
 */
#include "rdkafka_int.h"
#include "rdkafka_mock_int.h"

void fastkafka_mock_set_default_partition_cnt(rd_kafka_mock_cluster_t *mcluster,
                                              int partition_cnt) {
        mcluster->defaults.partition_cnt = partition_cnt;
}
