// kafkajs's transactional producer against Ringtail (run by
// e2e/txn_kafkajs_test.go):
//
//   node txn.js <broker> <topic> <input-topic> <group> <transactional-id> <plan>
//
// For each letter of plan, one transaction writes two records to each of
// topic's partitions 0-2 (one txn.send and one txn.sendBatch) whose values
// are "kjs-t<i>-p<p>-<k>-<letter>"; 'c' and 'a' also put group's offsets
// for input-topic (partition p at offset 2*(i+1)+p) into the transaction
// with txn.sendOffsets; 'c' and 'C' commit, 'a' aborts. The plan must end
// with a commit. Then kafkajs's consumer (readUncommitted: false, a group
// of its own) reads topic from the start until each partition's last
// committed record arrived.
//
// stdout carries one JSON object per line: {"txn":i,"end":"commit"|"abort"}
// per transaction, then {"consumed":{"0":[values...],...}}. Any failure is
// written to stderr and exits 1; the whole run is bounded by a deadline.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const [broker, topic, inputTopic, group, transactionalId, plan] = process.argv.slice(2)
if (!plan || !/^[caC]*[cC]$/.test(plan)) {
  console.error('usage: node txn.js <broker> <topic> <input-topic> <group> <transactional-id> <plan of c/a/C ending in a commit>')
  process.exit(2)
}

const PARTITIONS = 3
const DEADLINE_MS = 120000

const deadline = setTimeout(() => {
  console.error(`txn.js: not done within ${DEADLINE_MS} ms`)
  process.exit(1)
}, DEADLINE_MS)

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const kafka = new Kafka({
  clientId: 'ringtail-e2e-kafkajs',
  brokers: [broker],
  logLevel: logLevel.WARN,
  retry: { initialRetryTime: 50 }
})

const value = (i, p, k) => `kjs-t${String(i).padStart(2, '0')}-p${p}-${k}-${plan[i]}`

async function produce () {
  const producer = kafka.producer({ transactionalId, maxInFlightRequests: 1, idempotent: true })
  await producer.connect()
  try {
    for (let i = 0; i < plan.length; i++) {
      const letter = plan[i]
      const txn = await producer.transaction()
      try {
        const first = []
        const second = []
        for (let p = 0; p < PARTITIONS; p++) {
          first.push({ partition: p, key: String(i), value: value(i, p, 0) })
          second.push({ partition: p, key: String(i), value: value(i, p, 1) })
        }
        await txn.send({ topic, acks: -1, messages: first })
        await txn.sendBatch({ acks: -1, topicMessages: [{ topic, messages: second }] })
        if (letter !== 'C') {
          const partitions = []
          for (let p = 0; p < PARTITIONS; p++) {
            partitions.push({ partition: p, offset: String(2 * (i + 1) + p) })
          }
          await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic: inputTopic, partitions }] })
        }
      } catch (e) {
        console.error(`txn.js: transaction ${i}: ${e.stack || e}`)
        await txn.abort().catch(() => {})
        throw e
      }
      if (letter === 'a') {
        await txn.abort()
        out({ txn: i, end: 'abort' })
      } else {
        await txn.commit()
        out({ txn: i, end: 'commit' })
      }
    }
  } finally {
    await producer.disconnect()
  }
}

async function consume () {
  // The last committed value of each partition: everything before it in
  // the partition has been delivered once it arrives.
  const last = {}
  for (let i = 0; i < plan.length; i++) {
    if (plan[i] === 'a') continue
    for (let p = 0; p < PARTITIONS; p++) last[p] = value(i, p, 1)
  }
  const consumed = {}
  for (let p = 0; p < PARTITIONS; p++) consumed[p] = []
  const done = new Set()

  const consumer = kafka.consumer({ groupId: `${group}-reader`, readUncommitted: false, maxWaitTimeInMs: 200 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise((resolve, reject) => {
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error))
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          const v = message.value.toString()
          consumed[partition].push(v)
          if (v === last[partition]) done.add(partition)
          if (done.size === PARTITIONS) resolve()
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  out({ consumed })
}

async function main () {
  await produce()
  await consume()
}

main().then(() => {
  clearTimeout(deadline)
  process.exit(0)
}, (e) => {
  console.error(`txn.js: ${e.stack || e}`)
  process.exit(1)
})
