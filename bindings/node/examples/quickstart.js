'use strict';
// Cairn quickstart in Node.js: a KV store, a table and a blob store in the directory given (or a temp one).
//
//   node quickstart.js [DIR]    (CAIRN_NODE_ADDON=<build>/bindings/node/cairn.node from a CMake build)
const fs = require('fs');
const os = require('os');
const path = require('path');

// In an installed package this is just require('cairn').
const cairn = require(path.resolve(__dirname, '..'));

const root = process.argv[2] || fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-quickstart-'));
fs.mkdirSync(root, { recursive: true });

const db = new cairn.KV(path.join(root, 'kv'));
db.put('hello', 'world');                                // text
db.put('user:1', { name: 'Ada', langs: ['en'] });        // JSON document
db.put(Buffer.from('\0bin'), Buffer.from([0, 1, 2, 3])); // bytes
db.transaction(() => {                                   // atomic batch
  db.put('a', 1);
  db.put('b', 2);
});
db.update('user:1', { langs: ['en', 'fr'] });            // merge into the JSON object
console.log('kv:', db.get('hello'), JSON.stringify(db.get('user:1')), db.get(Buffer.from('\0bin')), db.keys('user:'));
console.log(`kv: ${db.count()} keys`);
console.log('kv: missing key ->', db.get('missing'));
try {
  db.delete('missing');
} catch (e) {
  console.log('kv: delete of a missing key ->', e.name, e.code);
}
db.close();

const users = new cairn.Table(path.join(root, 'users'), {
  schema: 'id i64 primary key, name string not null, score f64 null, joined timestamp null',
});
users.on('inserted', (id, row) => console.log('table: event inserted', id, row.name));
const ada = users.insert({ id: 1, name: 'Ada', joined: new Date('2024-01-02T03:04:05Z') });
users.insertMany([{ id: 2, name: 'Grace', score: 9.5 }, { id: 3, name: 'Linus' }]);
users.update(ada, { score: 7.25 });
users.load({ id: [4, 5], name: ['Barbara', 'Edsger'] });   // a column batch
for (const [id, row] of users) console.log('table:', id, row.name, row.score, row.joined && row.joined.toISOString());
console.log(`table: ${users.count()} rows, schema ${users.schema().map((c) => `${c.name} ${c.type}`).join(', ')}`);
users.close();

const repo = new cairn.Repo(path.join(root, 'versions'));   // the versioned store
repo.init('acme');
const v1 = repo.save('acme', 'ann', 'settings', { theme: 'dark' });
const v2 = repo.save('acme', 'bob', 'settings', { theme: 'light' });
console.log('repo:', JSON.stringify(repo.load('acme', 'settings')), 'was', JSON.stringify(repo.load('acme', 'settings', v1)));
console.log('repo: history', repo.history('acme', 'settings').map((v) => `${v.digest.slice(0, 12)} by ${v.user}`).join(', '));
repo.putMany('acme', 'ann', 'users', { u1: 'Ann', u2: 'Bob' });
const c2 = repo.put('acme', 'bob', 'users', 'u3', 'Cy');
console.log('repo: users', [...repo.records('acme', 'users')], 'diff', JSON.stringify(repo.diff('acme', null, c2)));
repo.tag('acme', 'v2', v2);
repo.close();

(async () => {
  const store = await cairn.openBlobStore(path.join(root, 'blobs.cairn')); // opened on the thread pool
  store.on('created', (key, size) => console.log('blob: event created', key, size));
  const k = store.create(Buffer.from('a blob of bytes'));
  store.update(k, 'a longer blob of bytes');
  console.log('blob:', k, store.read(k).toString(), `${store.count()} entries`);
  store.close();
})();
