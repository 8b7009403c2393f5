/*
 * What fastkafka's embedded broker adds to librdkafka's mock cluster, which has no
 * public API for any of it:
 *
 *  - the default partition count of auto-created topics (fixed at 4 otherwise);
 *  - a CreateTopics API (v0-v4) and a controller, so that an app in another process
 *    can create its declared topics on `fastkafka broker` with an ordinary admin
 *    client;
 *  - joins that complete once every member has rejoined, and a group that is empty
 *    again once its last member left, instead of waiting out a rebalance delay of the
 *    session timeout less a second (44 s with librdkafka's default session timeout),
 *    so that an app restarted after a clean stop, or a group a worker left, consumes
 *    again within seconds;
 *  - no silent retention: the mock cluster deletes a partition's oldest records once
 *    it holds more than 5 MiB or 100,000 record batches, after acknowledging them.
 *    Every partition's limits are lifted, so what was acknowledged stays readable
 *    until the broker stops (the embedded broker keeps its data in memory).
 *
 * This file is compiled against the very headers librdkafka was built from
 * (rdkafka-sys exports its build root), so the struct layouts always match the linked
 * library. Every function here runs either before any client has connected (install)
 * or on the mock cluster's own thread (the request handlers), like the mock cluster's
 * own handlers.
 */
#include "rdkafka_int.h"
#include "rdkafka_mock_int.h"
#include "rdkafka_buf.h"

#include <stdint.h>

/* A request handler of the mock cluster. */
typedef int (*fastkafka_handler_t)(rd_kafka_mock_connection_t *,
                                   rd_kafka_buf_t *);

/* The mock cluster's own Produce handler, wrapped by ours. The same function for
 * every cluster (they all copy one handler table). */
static fastkafka_handler_t fastkafka_original_produce;

/* Lifts the retention limits of every partition of the cluster that still has the
 * mock cluster's defaults. Cheap: a dev broker holds a handful of topics. */
static void fastkafka_keep_everything(rd_kafka_mock_cluster_t *mcluster) {
        rd_kafka_mock_topic_t *mtopic;
        TAILQ_FOREACH(mtopic, &mcluster->topics, link) {
                int i;
                for (i = 0; i < mtopic->partition_cnt; i++) {
                        rd_kafka_mock_partition_t *mpart =
                            &mtopic->partitions[i];
                        mpart->max_size = SIZE_MAX;
                        mpart->max_cnt  = SIZE_MAX;
                }
        }
}

/* Produce: the mock cluster's handler, with retention lifted on every partition before
 * (topics created since the last request) and after (a topic this very request
 * auto-created) it appends. */
static int fastkafka_handle_Produce(rd_kafka_mock_connection_t *mconn,
                                    rd_kafka_buf_t *rkbuf) {
        rd_kafka_mock_cluster_t *mcluster = mconn->broker->cluster;
        int r;
        fastkafka_keep_everything(mcluster);
        r = fastkafka_original_produce(mconn, rkbuf);
        fastkafka_keep_everything(mcluster);
        return r;
}

/* The mock cluster's own JoinGroup and LeaveGroup handlers, wrapped by ours. */
static fastkafka_handler_t fastkafka_original_join;
static fastkafka_handler_t fastkafka_original_leave;

/* How soon a group whose members have all rejoined (or that has none left) moves on. */
#define FASTKAFKA_JOINED_DELAY_MS 100

/* The mock cluster starts a rebalance of a group that has members with a delay of the
 * session timeout less a second, for members that have not rejoined yet, and only a
 * timer ends it: a group all of whose members are back (or that has none left) would
 * still wait all of it, where a real broker completes the join as soon as every known
 * member has rejoined. A group left empty is marked as never elected, so that the next
 * first member gets the initial rebalance delay (group.initial.rebalance.delay.ms)
 * that lets a starting app's workers join together. */
static void fastkafka_hurry_joins(rd_kafka_mock_cluster_t *mcluster) {
        rd_kafka_mock_cgrp_classic_t *mcgrp;
        TAILQ_FOREACH(mcgrp, &mcluster->cgrps_classic, link) {
                rd_kafka_mock_cgrp_classic_member_t *member;
                int all_joined = 1;
                if (mcgrp->state != RD_KAFKA_MOCK_CGRP_STATE_JOINING ||
                    !mcgrp->rebalance_tmr.rtmr_callback)
                        continue;
                if (mcgrp->member_cnt == 0)
                        mcgrp->last_member_cnt = 0;
                else if (mcgrp->last_member_cnt == 0)
                        continue; /* a first join: keep the initial delay */
                TAILQ_FOREACH(member, &mcgrp->members, link) {
                        if (!member->resp) {
                                all_joined = 0;
                                break;
                        }
                }
                if (!all_joined)
                        continue;
                rd_kafka_timer_start_oneshot(
                    &mcluster->timers, &mcgrp->rebalance_tmr, rd_true,
                    FASTKAFKA_JOINED_DELAY_MS * 1000,
                    mcgrp->rebalance_tmr.rtmr_callback, mcgrp);
        }
}

static int fastkafka_handle_JoinGroup(rd_kafka_mock_connection_t *mconn,
                                      rd_kafka_buf_t *rkbuf) {
        rd_kafka_mock_cluster_t *mcluster = mconn->broker->cluster;
        rd_kafka_mock_cgrp_classic_t *mcgrp;
        int r;
        /* A group that is empty (its last members left or timed out) starts over:
         * its next join is a first one, with the initial rebalance delay. */
        TAILQ_FOREACH(mcgrp, &mcluster->cgrps_classic, link) {
                if (mcgrp->state == RD_KAFKA_MOCK_CGRP_STATE_EMPTY)
                        mcgrp->last_member_cnt = 0;
        }
        r = fastkafka_original_join(mconn, rkbuf);
        fastkafka_hurry_joins(mcluster);
        return r;
}

static int fastkafka_handle_LeaveGroup(rd_kafka_mock_connection_t *mconn,
                                       rd_kafka_buf_t *rkbuf) {
        rd_kafka_mock_cluster_t *mcluster = mconn->broker->cluster;
        int r = fastkafka_original_leave(mconn, rkbuf);
        fastkafka_hurry_joins(mcluster);
        return r;
}

/* Whether Kafka would accept `name` as a topic name: 1-249 characters of
 * [a-zA-Z0-9._-], and neither "." nor "..". */
static int fastkafka_valid_topic_name(const rd_kafkap_str_t *name) {
        int i, len = RD_KAFKAP_STR_LEN(name);
        if (RD_KAFKAP_STR_IS_NULL(name) || len < 1 || len > 249)
                return 0;
        if ((len == 1 && name->str[0] == '.') ||
            (len == 2 && name->str[0] == '.' && name->str[1] == '.'))
                return 0;
        for (i = 0; i < len; i++) {
                char c = name->str[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        return 0;
        }
        return 1;
}

/* CreateTopics v0-v4 (the non-flexible versions; librdkafka's admin client sends v4).
 * The replication factor is accepted and not applied: the embedded broker is one
 * broker, and an app declared for a replicated cluster should still run on it. */
static int fastkafka_handle_CreateTopics(rd_kafka_mock_connection_t *mconn,
                                         rd_kafka_buf_t *rkbuf) {
        rd_kafka_mock_cluster_t *mcluster = mconn->broker->cluster;
        const rd_bool_t log_decode_errors = rd_true;
        const int16_t version             = rkbuf->rkbuf_reqhdr.ApiVersion;
        rd_kafka_buf_t *resp = rd_kafka_mock_buf_new_response(rkbuf);
        rd_kafka_resp_err_t all_err;
        int32_t TopicsCnt, i;
        /* What each topic asked for, answered once the whole request is read. */
        struct {
                rd_kafkap_str_t raw; /* as asked, pointing into the request */
                char name[250];
                int valid_name;
                int32_t partitions;
                int assigned;
        } *topics = NULL;
        int32_t TimeoutMs;
        rd_bool_t ValidateOnly = rd_false;

        rd_kafka_buf_read_arraycnt(rkbuf, &TopicsCnt, RD_KAFKAP_TOPICS_MAX);
        if (TopicsCnt > 0)
                topics = rd_calloc(TopicsCnt, sizeof(*topics));

        for (i = 0; i < TopicsCnt; i++) {
                rd_kafkap_str_t Name;
                int16_t ReplicationFactor;
                int32_t AssignmentsCnt, ConfigsCnt, j;

                rd_kafka_buf_read_str(rkbuf, &Name);
                topics[i].raw        = Name;
                topics[i].valid_name = fastkafka_valid_topic_name(&Name);
                if (topics[i].valid_name)
                        memcpy(topics[i].name, Name.str,
                               RD_KAFKAP_STR_LEN(&Name));
                rd_kafka_buf_read_i32(rkbuf, &topics[i].partitions);
                rd_kafka_buf_read_i16(rkbuf, &ReplicationFactor);

                /* Assignments: [PartitionIndex, [BrokerId]] */
                rd_kafka_buf_read_arraycnt(rkbuf, &AssignmentsCnt, 100000);
                for (j = 0; j < AssignmentsCnt; j++) {
                        int32_t PartitionIndex, BrokersCnt, k;
                        rd_kafka_buf_read_i32(rkbuf, &PartitionIndex);
                        rd_kafka_buf_read_arraycnt(rkbuf, &BrokersCnt, 10000);
                        for (k = 0; k < BrokersCnt; k++) {
                                int32_t BrokerId;
                                rd_kafka_buf_read_i32(rkbuf, &BrokerId);
                        }
                }
                if (AssignmentsCnt > 0) {
                        topics[i].partitions = AssignmentsCnt;
                        topics[i].assigned   = 1;
                }

                /* Configs: [Name, Value]; the mock cluster has no topic configs. */
                rd_kafka_buf_read_arraycnt(rkbuf, &ConfigsCnt, 10000);
                for (j = 0; j < ConfigsCnt; j++) {
                        rd_kafkap_str_t ConfigName, ConfigValue;
                        rd_kafka_buf_read_str(rkbuf, &ConfigName);
                        rd_kafka_buf_read_str(rkbuf, &ConfigValue);
                }
        }
        rd_kafka_buf_read_i32(rkbuf, &TimeoutMs);
        if (version >= 1)
                rd_kafka_buf_read_bool(rkbuf, &ValidateOnly);

        if (version >= 2) {
                /* ThrottleTimeMs */
                rd_kafka_buf_write_i32(resp, 0);
        }

        /* An injected error (EmbeddedBroker::fail_requests) answers every topic. */
        all_err = rd_kafka_mock_next_request_error(mconn, resp);

        rd_kafka_buf_write_i32(resp, TopicsCnt < 0 ? 0 : TopicsCnt);
        for (i = 0; i < TopicsCnt; i++) {
                rd_kafka_resp_err_t err = all_err;
                const char *message     = NULL;
                int32_t partitions      = topics[i].partitions;

                if (!err && !topics[i].valid_name) {
                        err = RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
                        message =
                            "topic names are 1 to 249 characters of "
                            "[a-zA-Z0-9._-], and not \".\" or \"..\"";
                } else if (!err &&
                           rd_kafka_mock_topic_find(mcluster, topics[i].name)) {
                        err     = RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
                        message = "the topic already exists";
                } else if (!err && partitions == -1) {
                        partitions = mcluster->defaults.partition_cnt;
                } else if (!err && partitions < 1) {
                        err     = RD_KAFKA_RESP_ERR_INVALID_PARTITIONS;
                        message = "a topic needs at least 1 partition";
                }
                if (!err && !ValidateOnly) {
                        rd_kafka_resp_err_t created;
                        rd_kafka_mock_topic_auto_create(
                            mcluster, topics[i].name, partitions, &created);
                        err = created;
                }

                /* The name as asked, also an invalid one: clients match
                 * results to their requests by name. */
                rd_kafka_buf_write_str(resp, topics[i].raw.str,
                                       RD_KAFKAP_STR_LEN(&topics[i].raw));
                rd_kafka_buf_write_i16(resp, err);
                if (version >= 1)
                        rd_kafka_buf_write_str(resp, err ? message : NULL, -1);
        }
        fastkafka_keep_everything(mcluster);

        RD_IF_FREE(topics, rd_free);
        rd_kafka_mock_connection_send_response(mconn, resp);
        return 0;

err_parse:
        RD_IF_FREE(topics, rd_free);
        rd_kafka_buf_destroy(resp);
        return -1;
}

/* Puts `ours` in place of the cluster's handler of `api`, keeping that in `original`
 * for `ours` to call. Every cluster copies the same handler table, so a second
 * cluster finds ours in place already. */
static void fastkafka_wrap(rd_kafka_mock_cluster_t *mcluster,
                           int16_t api,
                           fastkafka_handler_t ours,
                           fastkafka_handler_t *original) {
        if (mcluster->api_handlers[api].cb != ours) {
                *original                     = mcluster->api_handlers[api].cb;
                mcluster->api_handlers[api].cb = ours;
        }
}

/* Called once per cluster, right after rd_kafka_mock_cluster_new and before any
 * client connects. */
void fastkafka_mock_install(rd_kafka_mock_cluster_t *mcluster,
                            int partition_cnt) {
        mcluster->defaults.partition_cnt = partition_cnt;
        /* The mock cluster never sets its controller, so Metadata names broker 0,
         * which does not exist, and admin clients wait for one forever. Its brokers
         * are numbered from 1. */
        mcluster->controller_id = 1;

        fastkafka_wrap(mcluster, RD_KAFKAP_Produce, fastkafka_handle_Produce,
                       &fastkafka_original_produce);
        fastkafka_wrap(mcluster, RD_KAFKAP_JoinGroup, fastkafka_handle_JoinGroup,
                       &fastkafka_original_join);
        fastkafka_wrap(mcluster, RD_KAFKAP_LeaveGroup, fastkafka_handle_LeaveGroup,
                       &fastkafka_original_leave);

        mcluster->api_handlers[RD_KAFKAP_CreateTopics].MinVersion  = 0;
        mcluster->api_handlers[RD_KAFKAP_CreateTopics].MaxVersion  = 4;
        mcluster->api_handlers[RD_KAFKAP_CreateTopics].FlexVersion = 5;
        mcluster->api_handlers[RD_KAFKAP_CreateTopics].cb =
            fastkafka_handle_CreateTopics;
}
