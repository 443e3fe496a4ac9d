//! Unit tests of the in-stream row counter, fed the same dump in pieces of every size.

use super::*;

const DUMP: &str = "-- MariaDB dump 10.19\n\
/*!40101 SET NAMES utf8mb4 */;\n\
DROP TABLE IF EXISTS `a``b`;\n\
CREATE TABLE `a``b` (\n  `id` int(11) NOT NULL,\n  `s` text COMMENT 'INSERT INTO `x` VALUES (1)'\n) ENGINE=InnoDB;\n\
LOCK TABLES `a``b` WRITE;\n\
INSERT INTO `a``b` VALUES (1,'it\\'s (not) a row'),(2,'x\\\\'),(3,NULL);\n\
INSERT INTO `a``b` VALUES (4,'();(\\n'),(5,0xDEAD);\n\
UNLOCK TABLES;\n\
CREATE TABLE `empty` (\n  `id` int(11)\n);\n\
CREATE TABLE `t` (`id` int);\n\
INSERT INTO `t` VALUES (1),(2);\n\
/*!50001 CREATE VIEW `v` AS SELECT 1 AS `id` */;\n\
DELIMITER ;;\n\
CREATE PROCEDURE `p`()\nBEGIN\nINSERT INTO `t` VALUES (9),(9);\nCREATE TABLE `ghost` (`id` int);\nEND ;;\n\
DELIMITER ;\n\
INSERT INTO `t` VALUES ((1)),(2);\n\
INSERT INTO `empty` VALUES\n(1,'a;\\nb'),\n(2,'(b');\n\
UNLOCK TABLES;\n";

fn counts(pieces: usize) -> Vec<(String, u64)> {
    let mut c = InsertCounter::default();
    for chunk in DUMP.as_bytes().chunks(pieces) {
        c.feed(chunk);
    }
    c.finish().into_iter().map(|t| (t.name, t.rows)).collect()
}

#[test]
fn counts_rows_per_table_whatever_the_piece_size() {
    let want = vec![
        ("a`b".to_owned(), 5),
        ("empty".to_owned(), 2),
        ("t".to_owned(), 4),
    ];
    for size in [1, 2, 3, 7, 13, 64, DUMP.len()] {
        assert_eq!(counts(size), want, "pieces of {size}");
    }
}
