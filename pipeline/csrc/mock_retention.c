/*
 * Retention for librdkafka's mock cluster (`cartrack-worker broker`).
 *
 * The mock keeps at most 5 MiB or 100,000 message sets per partition and drops the oldest
 * beyond that, read or not (rdkafka_mock.c, rd_kafka_mock_partition_init), and offers no API to
 * change it. This file reaches into its internal structures (compiled against the very
 * librdkafka tree rdkafka-sys built, so the layouts match) and, on the mock cluster's own thread
 * (as a callback op on its queue, so nothing races with request handling):
 *   - lifts the mock's own limits, so it never drops anything by itself;
 *   - drops a partition's oldest message sets only once every consumer group that committed on
 *     the partition has committed past them, and only while the partition holds more than
 *     `retain_bytes` (consumed data is kept up to that, for re-reading);
 *   - refuses produce requests to a broker while one of the partitions it leads holds more than
 *     `max_backlog_bytes` not yet consumed, with NOT_ENOUGH_REPLICAS: retriable, "not
 *     persisted", so producers keep the records and retry (backpressure), and nothing is lost.
 */
#include "rdkafka_int.h"
#include "rdkafka_mock.h"
#include "rdkafka_mock_int.h"
#include "rdkafka_op.h"
#include "rdkafka_queue.h"

/* Refusals queued per check; a check runs every few milliseconds, so far more than enough. */
#define CARTRACK_REFUSALS 4096
/* Brokers tracked (the broker runs two). */
#define CARTRACK_MAX_BROKERS 8

typedef struct cartrack_retention_stats_s {
        uint64_t checks;              /* checks done on the mock thread */
        uint64_t refusing_checks;     /* checks that found some broker over its bound */
        uint64_t trimmed_msgsets;     /* consumed message sets dropped */
        uint64_t trimmed_bytes;       /* their bytes */
        uint64_t retained_bytes;      /* bytes held now, all partitions */
        uint64_t backlog_bytes;       /* bytes not yet consumed now, all partitions */
        uint64_t max_partition_backlog; /* largest unconsumed bytes of one partition seen */
        uint32_t refusing_brokers;    /* bit (id - 1) set while that broker refuses produce */
        /* The partition with the largest backlog at the last check, to name it in logs. */
        char worst_topic[64];
        int32_t worst_partition;
        int64_t worst_floor;          /* lowest committed offset, -1 if no group committed */
        int64_t worst_end;            /* end offset */
        uint64_t worst_backlog;
} cartrack_retention_stats_t;

typedef struct cartrack_retention_s {
        rd_kafka_mock_cluster_t *mcluster;
        size_t max_backlog_bytes;
        size_t retain_bytes;
        /* Written on the mock thread under mcluster->lock; read under it too. */
        cartrack_retention_stats_t stats;
        uint64_t queued; /* checks queued (caller's thread only) */
} cartrack_retention_t;

/* Drops the first message set of a partition, as rd_kafka_mock_msgset_destroy does. */
static void cartrack_drop_first(rd_kafka_mock_partition_t *mpart) {
        rd_kafka_mock_msgset_t *mset = TAILQ_FIRST(&mpart->msgsets);
        const rd_kafka_mock_msgset_t *next = TAILQ_NEXT(mset, link);

        if (!next)
                mpart->start_offset = mpart->end_offset;
        else
                mpart->start_offset = next->first_offset;
        if (mpart->update_follower_start_offset)
                mpart->follower_start_offset = mpart->start_offset;
        mpart->cnt--;
        mpart->size -= RD_KAFKAP_BYTES_LEN(&mset->bytes);
        TAILQ_REMOVE(&mpart->msgsets, mset, link);
        rd_free(mset);
}

/* The lowest offset committed on the partition by any group, or -1 if none committed. */
static int64_t cartrack_consumed_floor(const rd_kafka_mock_partition_t *mpart) {
        const rd_kafka_mock_committed_offset_t *coff;
        int64_t floor = -1;

        TAILQ_FOREACH(coff, &mpart->committed_offsets, link) {
                if (coff->offset < 0)
                        continue;
                if (floor == -1 || coff->offset < floor)
                        floor = coff->offset;
        }
        return floor;
}

/* Sets the broker's Produce refusals: CARTRACK_REFUSALS of them, or none. */
static void cartrack_set_refusing(rd_kafka_mock_broker_t *mrkb, rd_bool_t refusing) {
        rd_kafka_mock_error_stack_t *errstack;
        size_t i;

        TAILQ_FOREACH(errstack, &mrkb->errstacks, link) {
                if (errstack->ApiKey == RD_KAFKAP_Produce)
                        break;
        }
        if (!errstack) {
                if (!refusing)
                        return;
                errstack         = rd_calloc(1, sizeof(*errstack));
                errstack->ApiKey = RD_KAFKAP_Produce;
                TAILQ_INSERT_TAIL(&mrkb->errstacks, errstack, link);
        }
        if (!refusing) {
                errstack->cnt = 0;
                return;
        }
        if (errstack->size < CARTRACK_REFUSALS) {
                errstack->errs = rd_realloc(
                    errstack->errs, CARTRACK_REFUSALS * sizeof(*errstack->errs));
                errstack->size = CARTRACK_REFUSALS;
        }
        for (i = 0; i < CARTRACK_REFUSALS; i++) {
                errstack->errs[i].err = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
                errstack->errs[i].rtt = 0;
        }
        errstack->cnt = CARTRACK_REFUSALS;
}

/* One check, on the mock thread. */
static rd_kafka_op_res_t
cartrack_check(rd_kafka_t *rk, rd_kafka_q_t *rkq, rd_kafka_op_t *rko) {
        cartrack_retention_t *st =
            (cartrack_retention_t *)(intptr_t)rko->rko_u.mock.lo;
        rd_kafka_mock_cluster_t *mcluster = st->mcluster;
        rd_kafka_mock_topic_t *mtopic;
        rd_kafka_mock_broker_t *mrkb;
        uint32_t refusing          = 0;
        uint64_t retained          = 0;
        uint64_t backlog_total     = 0;
        uint64_t trimmed_msgsets   = 0;
        uint64_t trimmed_bytes     = 0;
        uint64_t max_backlog       = 0;
        const char *worst_topic    = "";
        int32_t worst_partition    = -1;
        int64_t worst_floor        = -1;
        int64_t worst_end          = -1;
        (void)rk;
        (void)rkq;

        TAILQ_FOREACH(mtopic, &mcluster->topics, link) {
                int i;
                for (i = 0; i < mtopic->partition_cnt; i++) {
                        rd_kafka_mock_partition_t *mpart = &mtopic->partitions[i];
                        const rd_kafka_mock_msgset_t *mset;
                        int64_t floor = cartrack_consumed_floor(mpart);
                        size_t consumed = 0;
                        size_t backlog;

                        /* Never drop anything by the mock's own rule. */
                        mpart->max_size = SIZE_MAX;
                        mpart->max_cnt  = SIZE_MAX;

                        /* Consumed and beyond what is kept for re-reading: drop. */
                        while (floor >= 0 && mpart->size > st->retain_bytes &&
                               (mset = TAILQ_FIRST(&mpart->msgsets)) &&
                               mset->last_offset < floor) {
                                trimmed_msgsets++;
                                trimmed_bytes += RD_KAFKAP_BYTES_LEN(&mset->bytes);
                                cartrack_drop_first(mpart);
                        }
                        if (floor >= 0) {
                                TAILQ_FOREACH(mset, &mpart->msgsets, link) {
                                        if (mset->last_offset >= floor)
                                                break;
                                        consumed += RD_KAFKAP_BYTES_LEN(&mset->bytes);
                                }
                        }
                        backlog = mpart->size - consumed;
                        retained += mpart->size;
                        backlog_total += backlog;
                        if (backlog > max_backlog || worst_partition < 0) {
                                max_backlog     = backlog;
                                worst_topic     = mtopic->name;
                                worst_partition = mpart->id;
                                worst_floor     = floor;
                                worst_end       = mpart->end_offset;
                        }
                        if (backlog > st->max_backlog_bytes && mpart->leader &&
                            mpart->leader->id >= 1 &&
                            mpart->leader->id <= CARTRACK_MAX_BROKERS)
                                refusing |= 1u << (mpart->leader->id - 1);
                }
        }

        mtx_lock(&mcluster->lock);
        TAILQ_FOREACH(mrkb, &mcluster->brokers, link) {
                if (mrkb->id >= 1 && mrkb->id <= CARTRACK_MAX_BROKERS)
                        cartrack_set_refusing(
                            mrkb, (refusing >> (mrkb->id - 1)) & 1);
        }
        st->stats.checks++;
        if (refusing)
                st->stats.refusing_checks++;
        st->stats.trimmed_msgsets += trimmed_msgsets;
        st->stats.trimmed_bytes += trimmed_bytes;
        st->stats.retained_bytes   = retained;
        st->stats.backlog_bytes    = backlog_total;
        if (max_backlog > st->stats.max_partition_backlog)
                st->stats.max_partition_backlog = max_backlog;
        st->stats.refusing_brokers = refusing;
        rd_snprintf(st->stats.worst_topic, sizeof(st->stats.worst_topic), "%s",
                    worst_topic);
        st->stats.worst_partition = worst_partition;
        st->stats.worst_floor     = worst_floor;
        st->stats.worst_end       = worst_end;
        st->stats.worst_backlog   = max_backlog;
        mtx_unlock(&mcluster->lock);

        return RD_KAFKA_OP_RES_HANDLED;
}

cartrack_retention_t *cartrack_retention_new(rd_kafka_mock_cluster_t *mcluster,
                                             size_t max_backlog_bytes,
                                             size_t retain_bytes) {
        cartrack_retention_t *st = rd_calloc(1, sizeof(*st));
        st->mcluster          = mcluster;
        st->max_backlog_bytes = max_backlog_bytes;
        st->retain_bytes      = retain_bytes;
        return st;
}

/* Queues one check on the mock thread; returns the number queued so far. */
uint64_t cartrack_retention_check(cartrack_retention_t *st) {
        rd_kafka_op_t *rko =
            rd_kafka_op_new_cb(st->mcluster->rk, RD_KAFKA_OP_MOCK, cartrack_check);
        rko->rko_u.mock.lo = (int64_t)(intptr_t)st;
        rd_kafka_q_enq(st->mcluster->ops, rko);
        return ++st->queued;
}

void cartrack_retention_stats(cartrack_retention_t *st,
                              cartrack_retention_stats_t *out) {
        mtx_lock(&st->mcluster->lock);
        *out = st->stats;
        mtx_unlock(&st->mcluster->lock);
}

void cartrack_retention_free(cartrack_retention_t *st) {
        rd_free(st);
}
