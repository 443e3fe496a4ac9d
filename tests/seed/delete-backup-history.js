// The seed's Node.js sample, corrected: the published one uses `await` inside a non-async
// `.then` callback and does not parse. Only that callback is now `async`.
// Set API base URL
const API_HOST = 'https://yourportal.onlyoffice.com';
const API_KEY = 'your_api_key';
// Headers with authentication
const HEADERS = {
  Authorization: API_KEY,
};
function deleteBackupHistory(dump) {
  // Optional query parameter: dump backups or not
  const params = new URLSearchParams({ Dump: String(dump).toLowerCase() });
  const url = `${API_HOST}/api/2.0/backup/deletebackuphistory?${params.toString()}`;
  // Send DELETE request to remove backup history
  return fetch(url, {
    method: 'DELETE',
    headers: HEADERS,
  })
    .then(async (res) => {
      if (res.status === 200) return res.json();
      const text = await res.text();
      console.log(`Backup history deletion failed. Status code: ${res.status}, Message: ${text}`);
      return null;
    })
    .then((data) => {
      if (!data) return null;
      const result = data?.response;
      console.log(`Backup history deleted: ${result}`);
      return result;
    })
    .catch((err) => {
      console.log(`Backup history deletion error: ${err.message}`);
    });
}
// Example: Delete history without dump backups
deleteBackupHistory(false);
